package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServer runs the server and checks its two log lines and its answer.
func TestServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RUN_SERVER") == "1" {
		os.Args = []string{"server", "-port", "18081"}
		main()
		return
	}
	cmd := exec.Command(exe, "-test.run", "^TestServer$")
	cmd.Env = append(os.Environ(), "RUN_SERVER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if strings.Join(lines, "\n") != "Hello World\nServer started on port 18081" {
		t.Fatalf("log lines %q", lines)
	}
	var body []byte
	for i := 0; i < 50; i++ {
		resp, err := http.Get("http://127.0.0.1:18081/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.TrimSpace(string(body)) != "Hello World" {
		t.Errorf("body %q", body)
	}
}
