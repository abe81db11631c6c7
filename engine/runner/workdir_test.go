package runner

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkDirHelper is not a test: run as a subprocess, it makes a work
// folder, prints it and waits to be killed.
func TestWorkDirHelper(t *testing.T) {
	if os.Getenv("KBRUN_WORKDIR_HELPER") != "1" {
		return
	}
	dir, _, err := makeWorkDir("helper")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
	select {}
}

// A work folder is swept only once its run is gone: a live run's (here,
// in another process, and in this one) stays, a SIGKILLed run's goes, and
// folders that are not kbrun's (no lock file) are never touched.
func TestSweepRemovesOnlyGoneRunsFolders(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	foreign := filepath.Join(tmp, "kbrun-e2e-123")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	// Another program's lock (the cluster harness's) is never taken for a run's.
	if err := os.WriteFile(filepath.Join(tmp, "kbrun-cluster.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mine, lock, err := makeWorkDir("20000101000000-0000")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkDirHelper$")
	cmd.Env = append(os.Environ(), "KBRUN_WORKDIR_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	killed := strings.TrimSpace(line)
	if !strings.HasPrefix(killed, filepath.Join(tmp, "kbrun-helper-")) {
		cmd.Process.Kill()
		t.Fatalf("helper made %q", killed)
	}
	removed, err := SweepWorkDirs(false)
	if err != nil || len(removed) != 0 {
		t.Fatalf("swept live runs' folders: %v %v", removed, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// A run killed after locking, before making its folder: its lock file
	// alone is left (and swept).
	early, err := os.Create(filepath.Join(tmp, "kbrun-early-1.workdir-lock"))
	if err != nil {
		t.Fatal(err)
	}
	early.Close()
	gone := fmt.Sprint([]string{early.Name(), killed})
	if removed, err = SweepWorkDirs(true); err != nil || fmt.Sprint(removed) != gone {
		t.Fatalf("dry run lists %v, %v; want %s", removed, err, gone)
	}
	if _, err := os.Stat(killed); err != nil {
		t.Fatalf("the dry run removed it: %v", err)
	}
	if removed, err = SweepWorkDirs(false); err != nil || fmt.Sprint(removed) != gone {
		t.Fatalf("swept %v, %v; want %s", removed, err, gone)
	}
	lock.Close()
	if removed, err = SweepWorkDirs(false); err != nil || fmt.Sprint(removed) != fmt.Sprint([]string{mine}) {
		t.Fatalf("after this run ended: swept %v, %v", removed, err)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if want := fmt.Sprint([]string{filepath.Join(tmp, "kbrun-cluster.lock"), foreign}); fmt.Sprint(left) != want {
		t.Fatalf("left %v; want only what is not a run's: %s", left, want)
	}
}
