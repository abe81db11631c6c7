// Command greeter is the go-service example's service: GET / answers the
// greeting read from a file (a ConfigMap mounted by the example), GET
// /healthz answers {"status":"ok","version":...}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	port := flag.Int("port", 8081, "TCP port to listen on")
	file := flag.String("greeting", "/config/greeting", "file holding the greeting")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(*file)
		if err != nil {
			http.Error(w, "no greeting: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, strings.TrimSpace(string(b)))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": version})
	})
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		<-sigs
		_ = srv.Close()
	}()
	fmt.Printf("greeter %s listening on :%d\n", version, *port)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
