package app

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/pflag"

	"github.com/kbrun/kbrun/engine/exit"
)

// profileFlags are kubectl's --profile and --profile-output: a pprof
// profile of this kbrun process, for finding where its own time goes.
type profileFlags struct {
	name, output string
	file         *os.File
}

func (p *profileFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.name, "profile", "none", "Name of profile to capture. One of (none|cpu|heap|goroutine|threadcreate|block|mutex)")
	fs.StringVar(&p.output, "profile-output", "profile.pprof", "Name of the file to write the profile to")
}

// start begins the profile; stop must be called when the command ends.
func (p *profileFlags) start() error {
	switch p.name {
	case "none":
		return nil
	case "cpu", "heap", "goroutine", "threadcreate", "block", "mutex":
	default:
		return &exit.UsageError{Err: fmt.Errorf("--profile %q: must be one of none, cpu, heap, goroutine, threadcreate, block, mutex", p.name)}
	}
	f, err := os.Create(p.output)
	if err != nil {
		return &exit.UsageError{Err: fmt.Errorf("--profile-output: %w", err)}
	}
	p.file = f
	switch p.name {
	case "cpu":
		return pprof.StartCPUProfile(f)
	case "block":
		runtime.SetBlockProfileRate(1)
	case "mutex":
		runtime.SetMutexProfileFraction(1)
	}
	return nil
}

// stop writes the profile.
func (p *profileFlags) stop() error {
	if p.file == nil {
		return nil
	}
	defer func() { p.file = nil }()
	if p.name == "cpu" {
		pprof.StopCPUProfile()
		return p.file.Close()
	}
	err := pprof.Lookup(p.name).WriteTo(p.file, 0)
	if cerr := p.file.Close(); err == nil {
		err = cerr
	}
	return err
}
