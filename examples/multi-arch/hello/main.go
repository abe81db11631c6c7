// Command hello is the multi-arch example's program: it says which
// platform it was built for, and which it runs on.
package main

import (
	"fmt"
	"runtime"
)

// built is set at build time: -ldflags "-X main.built=linux/arm64".
var built = "unknown"

func main() {
	fmt.Printf("hello from %s/%s (built for %s)\n", runtime.GOOS, runtime.GOARCH, built)
}
