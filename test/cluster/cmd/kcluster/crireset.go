package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criReset stops and removes every pod sandbox (and so every container) through the
// CRI of the containerd at the given socket, the way kubelet would: stopping a
// sandbox runs CNI DEL (veth, IP allocation, portmap and masquerade rules) and
// unmounts its network namespace. down.sh runs it after stopping kubelet and
// before stopping containerd. Usage: kcluster cri-reset unix:///path/containerd.sock
func criReset(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: kcluster cri-reset unix:///path/to/containerd.sock")
		return 2
	}
	target := args[0]
	if !strings.HasPrefix(target, "unix://") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-reset:", err)
		return 1
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-reset: list sandboxes:", err)
		return 1
	}
	failed := 0
	for _, sb := range resp.Items {
		name := sb.Id[:12]
		if sb.Metadata != nil {
			name = sb.Metadata.Namespace + "/" + sb.Metadata.Name
		}
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: stop %s: %v\n", name, err)
			failed++
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: remove %s: %v\n", name, err)
			failed++
			continue
		}
		fmt.Printf("removed pod sandbox %s\n", name)
	}
	if failed > 0 {
		return 1
	}
	return 0
}
