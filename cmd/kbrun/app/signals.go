package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/kbrun/kbrun/engine/exit"
)

// The signals that end a run the way Ctrl-C does: the running task stops,
// the finally tasks (cleanup) still run, and kbrun exits 128+n.
var stopSignals = map[os.Signal]string{
	syscall.SIGHUP:  "SIGHUP",  // the terminal closed, an ssh session dropped
	syscall.SIGINT:  "SIGINT",  // Ctrl-C
	syscall.SIGQUIT: "SIGQUIT", // Ctrl-\
	syscall.SIGTERM: "SIGTERM", // kill, a CI job cancelled, a pod stopped
}

// runContexts carry two levels of cancellation: the first signal cancels
// the run (finally tasks still run), the second cancels finally too.
type runContexts struct {
	run, hard context.Context
	in        *interrupter
}

// exitAtOnce makes the first stop signal end kbrun at once, with the
// signal's exit code: validate and plan change nothing, so there is
// nothing to stop in order, and what they compute checks no context.
func exitAtOnce(ctx context.Context) {
	if in := contexts(ctx).in; in != nil {
		in.mu.Lock()
		in.atOnce = true
		in.mu.Unlock()
	}
}

type ctxKey struct{}

// interrupter turns signals and a broken output stream into cancellation.
type interrupter struct {
	mu         sync.Mutex
	signals    int  // stop signals received
	cancelled  bool // the run context is cancelled
	cancelRun  context.CancelCauseFunc
	cancelHard context.CancelCauseFunc
	errOut     io.Writer
	// atOnce: the first signal ends kbrun (validate, plan).
	atOnce bool
}

// signal handles one stop signal: the first stops the run, the second
// stops finally too, the third exits at once.
func (in *interrupter) signal(s syscall.Signal, name string) {
	cause := &exit.InterruptedError{Signal: name, Number: int(s)}
	in.mu.Lock()
	in.signals++
	n := in.signals
	atOnce := in.atOnce
	in.mu.Unlock()
	if atOnce {
		fmt.Fprintf(in.errOut, "\nkbrun: %s received: stopped\n", name)
		os.Exit(cause.Code())
	}
	// Messages are written without the lock: writing may find stderr
	// broken, which comes back here through brokenStream. They are
	// written once the run is stopped: what they say has happened.
	switch n {
	case 1:
		in.cancel(cause)
		fmt.Fprintf(in.errOut, "\nkbrun: %s received: stopping the run; finally tasks still run (a second signal, e.g. Ctrl-C, stops them too)\n", name)
	case 2:
		in.cancel(cause)
		in.cancelHard(cause)
		fmt.Fprintf(in.errOut, "\nkbrun: %s received again: stopping cleanup\n", name)
	default:
		os.Exit(cause.Code())
	}
}

// brokenStream handles a write to stdout or stderr that failed with EPIPE
// (the reader went away: `| head`, a pager quit, a log collector died). The
// run stops as if SIGPIPE had ended it, but only once and never further: a
// broken stream must not also stop the cleanup. A run whose tasks had all
// ended when the stream broke keeps its result (the runner decides that).
func (in *interrupter) brokenStream(stream string) {
	if in.cancel(&exit.InterruptedError{Signal: "SIGPIPE", Number: int(syscall.SIGPIPE), Stream: true}) {
		fmt.Fprintf(in.errOut, "\nkbrun: %s is a closed pipe (EPIPE): stopping the run; finally tasks still run\n", stream)
	}
}

// cancel cancels the run once, with cause; it reports whether it did.
func (in *interrupter) cancel(cause error) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cancelled {
		return false
	}
	in.cancelled = true
	in.cancelRun(cause)
	return true
}

// signalContext returns a context carrying the run and hard contexts, and
// out and errOut wrapped so that a broken stream stops being written to
// and stops the run (see brokenStream).
func signalContext(out, errOut io.Writer) (context.Context, io.Writer, io.Writer, func()) {
	runCtx, cancelRun := context.WithCancelCause(context.Background())
	hardCtx, cancelHard := context.WithCancelCause(context.Background())
	in := &interrupter{cancelRun: cancelRun, cancelHard: cancelHard}
	guardedErr := &guardedWriter{w: errOut, name: "stderr", broke: in.brokenStream}
	in.errOut = guardedErr
	guardedOut := &guardedWriter{w: out, name: "stdout", broke: in.brokenStream}

	sigs := make(chan os.Signal, 4)
	for s := range stopSignals {
		signal.Notify(sigs, s)
	}
	// Without Notify, a write to a closed pipe on fd 1 or 2 kills a Go
	// program with SIGPIPE (no cleanup). With it, the write returns EPIPE,
	// which guardedWriter acts on. The signal itself is dropped: the kernel
	// raises it for any closed pipe or socket written to (a connection the
	// API server reset, which client-go handles), so it says nothing about
	// stdout.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-pipes:
			case s := <-sigs:
				in.signal(s.(syscall.Signal), stopSignals[s])
			}
		}
	}()
	ctx := context.WithValue(context.Background(), ctxKey{}, runContexts{run: runCtx, hard: hardCtx, in: in})
	return ctx, guardedOut, guardedErr, func() {
		signal.Stop(sigs)
		signal.Stop(pipes)
		close(done)
		cancelRun(nil)
		cancelHard(nil)
	}
}

func contexts(ctx context.Context) runContexts {
	if rc, ok := ctx.Value(ctxKey{}).(runContexts); ok {
		return rc
	}
	return runContexts{run: ctx, hard: context.Background()}
}

// guardedWriter stops writing to a stream after its first write error:
// live output is for people watching, and a stream that broke (a closed
// pipe, a hung-up terminal, a full disk) must never fail a task or the
// run. An EPIPE also calls broke.
type guardedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	name   string
	broken bool
	broke  func(stream string)
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	if g.broken {
		g.mu.Unlock()
		return len(p), nil
	}
	_, err := g.w.Write(p)
	if err != nil {
		g.broken = true
	}
	g.mu.Unlock()
	if err != nil && errors.Is(err, syscall.EPIPE) {
		g.broke(g.name)
	}
	return len(p), nil
}
