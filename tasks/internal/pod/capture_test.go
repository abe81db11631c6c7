package pod

import (
	"strings"
	"testing"
)

func TestCaptureAndTail(t *testing.T) {
	var live strings.Builder
	c := NewCapture(5, &live)
	c.Write([]byte("hello world"))
	c.Write([]byte("!"))
	if c.String() != "hello" || live.String() != "hello world!" || c.Cut() != 7 {
		t.Fatalf("%q %q cut %d", c.String(), live.String(), c.Cut())
	}
	tl := NewTail(8)
	tl.Write([]byte("abcdef"))
	tl.Write([]byte("ghij"))
	if tl.String() != "cdefghij" {
		t.Fatal(tl.String())
	}
	if TailLines("a\nb\nc\n", 2) != "b\nc" {
		t.Fatal(TailLines("a\nb\nc\n", 2))
	}
}
