// Command htpasswd writes the htpasswd file of the test cluster's TLS
// registry (distribution's htpasswd access controller reads bcrypt entries
// only). It reads "USER:PASSWORD" lines on stdin, so that no password is
// ever on a command line, and writes "USER:BCRYPT" lines on stdout.
//
// The cost is bcrypt's minimum: the registry checks the password on every
// request of a push, and at the default cost each check takes tens of
// milliseconds on this 2-core machine. The passwords are random and live
// only as long as the cluster.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
}

func run() error {
	sc := bufio.NewScanner(os.Stdin)
	n := 0
	for sc.Scan() {
		user, pw, ok := strings.Cut(sc.Text(), ":")
		if !ok || user == "" || pw == "" {
			return fmt.Errorf("stdin line %d: want USER:PASSWORD", n+1)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("user %s: %w", user, err)
		}
		fmt.Printf("%s:%s\n", user, hash)
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no USER:PASSWORD line on stdin")
	}
	return nil
}
