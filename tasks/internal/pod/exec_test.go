package pod

import (
	"errors"
	"fmt"
	"testing"
)

func TestNeverStarted(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("unable to upgrade connection: service unavailable"):                                                true,
		fmt.Errorf(`unable to upgrade connection: pods "p" is forbidden: User "u" cannot create resource "pods/exec"`): false,
		errors.New("command terminated with exit code 1"):                                                              false,
		fmt.Errorf("websocket: close 1006 (abnormal closure)"):                                                         false,
		// SPDY's dial failed before any answer: the command never ran.
		errors.New(`error sending request: Post "https://127.0.0.1:41647/api/v1/namespaces/ns/pods/p/exec?command=x": unexpected EOF`): true,
		errors.New(`error sending request: Post "https://h/exec": dial tcp 10.0.0.1:6443: connect: connection refused`):                true,
		errors.New("error reading from error stream: next reader: unexpected EOF"):                                                     false,
	} {
		if got := neverStarted(err); got != want {
			t.Errorf("neverStarted(%q) = %v", err, got)
		}
	}
}

// SPDYFirst goes on to WebSocket for a refused SPDY upgrade (the client's
// untyped message), but not for missing rights (SPDY's message names the
// verb) and never for a stream that started.
func TestSPDYRefused(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("unable to upgrade connection: unable to read error from server response"):                          true,
		fmt.Errorf(`unable to upgrade connection: pods "p" is forbidden: User "u" cannot create resource "pods/exec"`): false,
		fmt.Errorf("unable to upgrade connection: Unauthorized"):                                                       false,
		fmt.Errorf("unable to upgrade connection: 404 page not found"):                                                 true,
		errors.New("command terminated with exit code 1"):                                                              false,
		errors.New("error reading from error stream: EOF"):                                                             false,
		nil: false,
	} {
		if got := spdyRefused(err); got != want {
			t.Errorf("spdyRefused(%v) = %v", err, got)
		}
	}
}
