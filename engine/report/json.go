package report

import (
	"encoding/json"
	"io"
	"sync"
)

// JSON writes one event per line, for CI and tools.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON writes to w.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Report implements Reporter.
func (j *JSON) Report(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}
