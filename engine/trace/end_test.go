package trace_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/trace"
)

func TestEnabled(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name string
		flag *bool
		env  map[string]string
		want bool
	}{
		{"nothing", nil, nil, false},
		{"--trace", &on, nil, true},
		{"endpoint", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"traces endpoint", nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"headers alone", nil, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, false},
		{"--trace=false wins", &off, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"SDK disabled", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, false},
		{"--trace wins over SDK disabled", &on, map[string]string{"OTEL_SDK_DISABLED": "true"}, true},
	}
	for _, tc := range tests {
		if got := trace.Enabled(tc.flag, func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOffIsNil: tracing off is a nil *Run, whose pipeline reporter is nil
// and takes events, and whose End does nothing.
func TestOffIsNil(t *testing.T) {
	tr := trace.Start(context.Background(), trace.Options{Getenv: func(string) string { return "" }})
	if tr != nil {
		t.Fatal("tracing on without --trace or an endpoint")
	}
	if p := tr.Pipeline(); p != nil {
		t.Fatal("a pipeline reporter without tracing")
	}
	var r report.Reporter = tr.Pipeline()
	r.Report(report.Event{Type: report.RunStart})
	tr.End()
}

// endWith runs a one-task pipeline traced to endpoint and returns what
// End warned and how long it took.
func endWith(t *testing.T, endpoint string, flush time.Duration, env map[string]string) (string, time.Duration) {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var warn strings.Builder
	tr := trace.Start(context.Background(), trace.Options{Getenv: os.Getenv, Warn: &warn, FlushTimeout: flush})
	if tr == nil {
		t.Fatal("tracing off")
	}
	p := tr.Pipeline()
	now := time.Now()
	p.Report(report.Event{Time: now, Type: report.RunStart, Pipeline: "p"})
	p.Report(report.Event{Time: now, Type: report.TaskStart, Task: "a", TaskType: "run", Index: "1"})
	p.Report(report.Event{Time: now, Type: report.TaskEnd, Task: "a", TaskType: "run", Index: "1", Status: report.StatusOK, Attempt: 1})
	p.Report(report.Event{Time: now, Type: report.RunEnd, Pipeline: "p"})
	start := time.Now()
	tr.End()
	return warn.String(), time.Since(start)
}

func oneWarning(t *testing.T, warn string) {
	t.Helper()
	if strings.Count(warn, "\n") != 1 || !strings.HasPrefix(warn, "kbrun: warning: the run's trace was not exported: ") {
		t.Errorf("warning %q, want one line", warn)
	}
}

// TestEndpointDown: a collector that is not there is one warning line,
// at once.
func TestEndpointDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// Over HTTP the refused connection is the answer; gRPC waits for a
	// connection until the flush timeout.
	for _, tc := range []struct {
		proto string
		flush time.Duration
	}{{"http/protobuf", time.Minute}, {"grpc", 500 * time.Millisecond}} {
		t.Run(tc.proto, func(t *testing.T) {
			warn, took := endWith(t, "http://"+addr, tc.flush, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": tc.proto})
			oneWarning(t, warn)
			if took > 5*time.Second {
				t.Errorf("End took %s", took)
			}
		})
	}
}

// TestEndpointHangs: a collector that never answers holds the end of the
// run for the flush timeout, no longer.
func TestEndpointHangs(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	warn, took := endWith(t, srv.URL, 200*time.Millisecond, nil)
	oneWarning(t, warn)
	if !strings.Contains(warn, "not sent within 200ms") {
		t.Errorf("warning %q does not say the flush timed out", warn)
	}
	if took > 5*time.Second {
		t.Errorf("End took %s with a flush timeout of 200ms", took)
	}
}

// TestUnknownProtocol: a protocol neither exporter speaks is one warning
// line, and the run goes on untraced.
func TestUnknownProtocol(t *testing.T) {
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}
	var warn strings.Builder
	if tr := trace.Start(context.Background(), trace.Options{Getenv: func(k string) string { return env[k] }, Warn: &warn}); tr != nil {
		t.Error("tracing on with an unknown protocol")
	}
	if !strings.Contains(warn.String(), `OTEL_EXPORTER_OTLP_PROTOCOL="thrift"`) || strings.Count(warn.String(), "\n") != 1 {
		t.Errorf("warning %q", warn.String())
	}
}
