// Command count is the job-result example's Job: it counts the rows of its
// input (ROWS, a JSON list) and creates the ConfigMap "report" with the
// count through the API server, as its pod's ServiceAccount. The ConfigMap
// names the Job (JOB_NAME, JOB_UID) as its owner, so that it goes with it.
//
// It trusts only the cluster's CA, the ca.crt mounted with the token: the
// token goes to no server that CA did not certify. The standard library is
// enough for one POST, so the example needs no client-go.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// saDir is where the kubelet mounts the pod's ServiceAccount token, its
// namespace and the cluster's CA.
const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if err := run(saDir); err != nil {
		fmt.Fprintln(os.Stderr, "count:", err)
		os.Exit(1)
	}
}

// run reads the token, namespace and CA from the directory sa.
func run(sa string) error {
	var rows []string
	if err := json.Unmarshal([]byte(os.Getenv("ROWS")), &rows); err != nil {
		return fmt.Errorf("ROWS is not a JSON list of strings: %w", err)
	}
	fmt.Printf("counted %d rows\n", len(rows))

	env := map[string]string{}
	for _, name := range []string{"JOB_NAME", "JOB_UID", "POD", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		if env[name] = os.Getenv(name); env[name] == "" {
			return fmt.Errorf("%s is not set", name)
		}
	}
	files := map[string][]byte{}
	for _, name := range []string{"token", "namespace", "ca.crt"} {
		b, err := os.ReadFile(filepath.Join(sa, name))
		if err != nil {
			return err
		}
		files[name] = bytes.TrimSpace(b)
	}
	ns := string(files["namespace"])
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(files["ca.crt"]) {
		return fmt.Errorf("%s holds no PEM certificate", filepath.Join(sa, "ca.crt"))
	}

	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":   "report",
			"labels": map[string]string{"app": "count"},
			"ownerReferences": []map[string]string{
				{"apiVersion": "batch/v1", "kind": "Job", "name": env["JOB_NAME"], "uid": env["JOB_UID"]},
			},
		},
		"data": map[string]string{"rows": strconv.Itoa(len(rows)), "writtenBy": env["POD"]},
	})
	if err != nil {
		return err
	}
	// The API server's Service address, as client-go finds it in a pod;
	// its certificate names that address, and the CA must have signed it.
	url := "https://" + net.JoinHostPort(env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) +
		"/api/v1/namespaces/" + ns + "/configmaps"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+string(files["token"]))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cas, MinVersion: tls.VersionTLS12}},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(answer))
	}
	fmt.Printf("wrote configmap %s/report\n", ns)
	return nil
}
