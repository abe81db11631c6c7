// Package otlpsink is a test-only OTLP/HTTP trace receiver: an httptest
// server that accepts protobuf export requests on /v1/traces (gzipped or
// not), keeps their spans and the raw bodies, and answers as a collector
// does. Tests point OTEL_EXPORTER_OTLP_ENDPOINT at its URL.
package otlpsink

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, decoded.
type Span struct {
	Name               string
	TraceID, ID        string
	Parent             string // "" for a root
	Attrs              map[string]any
	Status             string // "Unset", "Ok" or "Error"
	Message            string
	Start, End         time.Time
	Events             []string
	Service            string // the resource's service.name
	ResourceAttributes map[string]any
}

// Sink is the receiver.
type Sink struct {
	*httptest.Server
	mu     sync.Mutex
	spans  []Span
	bodies [][]byte
}

// New starts a receiver, closed when the test ends.
func New(t testing.TB) *Sink {
	s := &Sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, data)
	for _, rs := range req.ResourceSpans {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s.spans = append(s.spans, decode(sp, res))
			}
		}
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func decode(sp *tracepb.Span, res map[string]any) Span {
	out := Span{
		Name:               sp.Name,
		TraceID:            hex.EncodeToString(sp.TraceId),
		ID:                 hex.EncodeToString(sp.SpanId),
		Parent:             hex.EncodeToString(sp.ParentSpanId),
		Attrs:              attrs(sp.Attributes),
		Status:             "Unset",
		Message:            sp.GetStatus().GetMessage(),
		Start:              time.Unix(0, int64(sp.StartTimeUnixNano)),
		End:                time.Unix(0, int64(sp.EndTimeUnixNano)),
		ResourceAttributes: res,
	}
	out.Service, _ = res["service.name"].(string)
	switch sp.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		out.Status = "Ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		out.Status = "Error"
	}
	for _, e := range sp.Events {
		out.Events = append(out.Events, e.Name)
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range kvs {
		out[kv.Key] = value(kv.Value)
	}
	return out
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_ArrayValue:
		var list []any
		for _, e := range x.ArrayValue.Values {
			list = append(list, value(e))
		}
		return list
	}
	return nil
}

// Spans returns the spans received so far.
func (s *Sink) Spans() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Span(nil), s.spans...)
}

// Contains tells whether any request body received holds b (a protobuf
// keeps strings as they are: no name, value or message escapes this).
func (s *Sink) Contains(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, body := range s.bodies {
		if bytes.Contains(body, b) {
			return true
		}
	}
	return false
}

// Tree is the spans as an indented outline of names and statuses, children
// in order of start: for comparing and for failure messages.
func Tree(spans []Span) string {
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.ID] = true
	}
	kids := map[string][]Span{}
	for _, sp := range spans {
		p := sp.Parent
		if !ids[p] {
			p = "" // a root, or its parent was not received
		}
		kids[p] = append(kids[p], sp)
	}
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		list := kids[parent]
		sort.SliceStable(list, func(i, j int) bool { return before(list[i], list[j]) })
		for _, sp := range list {
			fmt.Fprintf(&b, "%s%s [%s]\n", strings.Repeat("  ", depth), sp.Name, sp.Status)
			walk(sp.ID, depth+1)
		}
	}
	walk("", 0)
	return b.String()
}

// before orders siblings as the plan does: tasks by their index ("2" <
// "10" < "F1", finally last), attempts by number, the rest by start.
func before(a, b Span) bool {
	ia, _ := a.Attrs["kbrun.task.index"].(string)
	ib, _ := b.Attrs["kbrun.task.index"].(string)
	if ia != "" && ib != "" && ia != ib {
		return indexKey(ia) < indexKey(ib)
	}
	na, _ := a.Attrs["kbrun.attempt"].(int64)
	nb, _ := b.Attrs["kbrun.attempt"].(int64)
	if na != nb {
		return na < nb
	}
	return a.Start.Before(b.Start)
}

// indexKey makes an index sortable as a string: each number padded, the
// finally tasks after the others.
func indexKey(index string) string {
	fin := strings.HasPrefix(index, "F")
	var b strings.Builder
	if fin {
		b.WriteString("~")
	}
	for _, part := range strings.Split(strings.TrimPrefix(index, "F"), ".") {
		fmt.Fprintf(&b, "%08s.", part)
	}
	return b.String()
}

// Find returns the spans named name.
func Find(spans []Span, name string) []Span {
	var out []Span
	for _, sp := range spans {
		if sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}
