package exec

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strconv"
)

// statusScript runs "$@" and then prints its exit status on stderr between
// record separators, behind a mark that is new for every exec ($1). The
// exec protocol reports a stream that breaks without a status (the
// container runtime or the kubelet restarting under it) as exit code 0, in
// client-go and in the API server's WebSocket translation alike: only the
// mark tells a command that exited 0 from one whose end was never seen.
const statusScript = `m=$1; shift; "$@"; rc=$?; printf '\036%s:%d\036' "$m" "$rc" >&2; exit $rc`

// drainStatusScript is statusScript for a command given stdin: it reads
// what the command left of it, so the stream ends (client-go's WebSocket
// executor waits for stdin to be read).
const drainStatusScript = `m=$1; shift; "$@"; rc=$?; cat >/dev/null 2>&1; printf '\036%s:%d\036' "$m" "$rc" >&2; exit $rc`

// newMark returns a mark no output can hold by chance.
func newMark() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "kbrun-exit-" + hex.EncodeToString(b)
}

// statusFilter passes a stream on to w without the status record
// (\036MARK:CODE\036) the script prints, and keeps the code.
type statusFilter struct {
	w     io.Writer
	start []byte // \036MARK:
	held  []byte // bytes that may begin the record
	// digits is non-nil once start was seen, until the closing \036.
	digits []byte
	found  bool
	code   int
}

func newStatusFilter(w io.Writer, mark string) *statusFilter {
	return &statusFilter{w: w, start: []byte("\036" + mark + ":")}
}

// Write implements io.Writer.
func (f *statusFilter) Write(p []byte) (int, error) {
	n := len(p)
	data := append(f.held, p...)
	f.held = nil
	for len(data) > 0 {
		if f.found {
			return n, f.pass(data)
		}
		if f.digits != nil {
			i := 0
			for i < len(data) && (data[i] >= '0' && data[i] <= '9') {
				i++
			}
			f.digits = append(f.digits, data[:i]...)
			data = data[i:]
			if len(data) == 0 {
				return n, nil
			}
			if data[0] == '\036' && len(f.digits) > 0 {
				f.code, _ = strconv.Atoi(string(f.digits))
				f.found, f.digits = true, nil
				data = data[1:]
				continue
			}
			// Not the record after all: the bytes are the command's.
			seen := append(append([]byte{}, f.start...), f.digits...)
			f.digits = nil
			if err := f.pass(seen); err != nil {
				return n, err
			}
			continue
		}
		if i := bytes.Index(data, f.start); i >= 0 {
			if err := f.pass(data[:i]); err != nil {
				return n, err
			}
			f.digits, data = []byte{}, data[i+len(f.start):]
			continue
		}
		keep := partialPrefix(data, f.start)
		f.held = append([]byte{}, data[len(data)-keep:]...)
		return n, f.pass(data[:len(data)-keep])
	}
	return n, nil
}

// Close passes on what was held back when the stream ended inside a
// possible record.
func (f *statusFilter) Close() error {
	rest := f.held
	if f.digits != nil {
		rest = append(append(append([]byte{}, f.start...), f.digits...), rest...)
	}
	f.held, f.digits = nil, nil
	return f.pass(rest)
}

// Status returns the command's exit status and whether the record arrived.
func (f *statusFilter) Status() (int, bool) { return f.code, f.found }

func (f *statusFilter) pass(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := f.w.Write(b)
	return err
}

// partialPrefix is the length of the longest end of data that begins
// prefix.
func partialPrefix(data, prefix []byte) int {
	for k := min(len(data), len(prefix)-1); k > 0; k-- {
		if bytes.HasPrefix(prefix, data[len(data)-k:]) {
			return k
		}
	}
	return 0
}
