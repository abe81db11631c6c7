// Package trace exports a kbrun run as OpenTelemetry spans over OTLP: the
// run, each pipeline under it, each task under its pipeline (or under its
// parallel group, its use of a library, its matrix), each attempt of an
// action under its task. It reads the runner's events, like the text and
// JSON reporters, masked as they are, so that the runner knows nothing of
// it; when tracing is off nothing of it exists but a nil pointer.
package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// FlushTimeout bounds how long the end of a run waits for its spans to be
// sent: a collector that is down or slow must not hold kbrun.
const FlushTimeout = 5 * time.Second

// Options configure tracing for one kbrun process.
type Options struct {
	// Flag is --trace as given: nil when it was not (the environment
	// decides), false to turn tracing off whatever the environment says.
	Flag *bool
	// Getenv reads the OTEL_* variables (os.Getenv).
	Getenv func(string) string
	// Warn gets the one line that says spans could not be exported.
	Warn io.Writer
	// Version is kbrun's, for service.version.
	Version string
	// Exporter replaces the OTLP exporter (tests).
	Exporter sdktrace.SpanExporter
	// FlushTimeout replaces the package's (tests).
	FlushTimeout time.Duration
}

// Enabled tells whether a run traces: --trace, or an OTLP endpoint
// variable set (and the SDK not disabled), unless --trace=false.
func Enabled(flag *bool, getenv func(string) string) bool {
	if flag != nil {
		return *flag
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Run is one traced kbrun process: the root span and the provider that
// sends it. A nil *Run is tracing off; every method allows it.
type Run struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	root   trace.Span
	ctx    context.Context
	exp    *quiet
	warn   io.Writer
	flush  time.Duration
	failed atomic.Bool
}

// Start begins tracing when Enabled says so, and returns nil otherwise. A
// configuration the exporter refuses is one warning line: the run goes on
// untraced.
func Start(ctx context.Context, o Options) *Run {
	if !Enabled(o.Flag, o.Getenv) {
		return nil
	}
	exp := o.Exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, o.Getenv); err != nil {
			fmt.Fprintf(o.Warn, "kbrun: warning: tracing is off: %v\n", err)
			return nil
		}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "kbrun"), attribute.String("service.version", o.Version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK())
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES: what could be read is kept.
		fmt.Fprintf(o.Warn, "kbrun: warning: tracing: %v\n", err)
	}
	q := &quiet{SpanExporter: exp}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(q), sdktrace.WithResource(res))
	r := &Run{tp: tp, tracer: tp.Tracer("github.com/kbrun/kbrun/engine/trace"), exp: q, warn: o.Warn, flush: o.FlushTimeout}
	if r.flush == 0 {
		r.flush = FlushTimeout
	}
	r.ctx, r.root = r.tracer.Start(ctx, "kbrun run", trace.WithSpanKind(trace.SpanKindInternal))
	return r
}

// newExporter makes the OTLP exporter OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL
// names; both read the other OTEL_EXPORTER_OTLP_* variables themselves
// (endpoint, headers, timeout, compression, certificates).
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf", "http/json":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	}
	return nil, fmt.Errorf(`OTEL_EXPORTER_OTLP_PROTOCOL=%q: want "http/protobuf", "http/json" or "grpc"`, proto)
}

// End ends the root span and sends what is left, waiting FlushTimeout at
// most. Spans that could not be sent are one warning line; they never
// change the run's exit code.
func (r *Run) End() {
	if r == nil {
		return
	}
	if r.failed.Load() {
		r.root.SetStatus(codes.Error, "a pipeline failed")
	} else {
		r.root.SetStatus(codes.Ok, "")
	}
	r.root.End()
	ctx, cancel := context.WithTimeout(context.Background(), r.flush)
	defer cancel()
	err := r.tp.Shutdown(ctx)
	if first := r.exp.first(); first != nil {
		err = first // what the collector said, rather than that time ran out
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not sent within %s", r.flush)
		}
		fmt.Fprintf(r.warn, "kbrun: warning: the run's trace was not exported: %s\n", oneLine(err.Error()))
	}
}

// quiet keeps the first export error for End to report once, instead of
// the SDK logging each failed batch.
type quiet struct {
	sdktrace.SpanExporter
	mu  sync.Mutex
	err error
}

func (q *quiet) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := q.SpanExporter.ExportSpans(ctx, spans); err != nil {
		q.mu.Lock()
		if q.err == nil {
			q.err = err
		}
		q.mu.Unlock()
	}
	return nil
}

func (q *quiet) first() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
