package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serviceAccount writes a token, a namespace and the CA certificate ca as
// the kubelet mounts them, and points the Service variables at api.
func serviceAccount(t *testing.T, ca *x509.Certificate, api *httptest.Server) string {
	t.Helper()
	dir := t.TempDir()
	pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	for name, data := range map[string][]byte{"token": []byte("tok3n"), "namespace": []byte("ns1"), "ca.crt": pemCA} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(api.URL, "https://"))
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	t.Setenv("ROWS", `["a","b c",""]`)
	t.Setenv("JOB_NAME", "count")
	t.Setenv("JOB_UID", "0000-1111")
	t.Setenv("POD", "count-xyz")
	return dir
}

func TestRunCreatesTheReport(t *testing.T) {
	var got struct {
		Metadata struct {
			Name            string
			Labels          map[string]string
			OwnerReferences []map[string]string
		}
		Data map[string]string
	}
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/namespaces/ns1/configmaps" || r.Header.Get("Authorization") != "Bearer tok3n" {
			t.Errorf("%s %s with %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer api.Close()
	if err := run(serviceAccount(t, api.Certificate(), api)); err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{"apiVersion": "batch/v1", "kind": "Job", "name": "count", "uid": "0000-1111"}
	if got.Metadata.Name != "report" || got.Metadata.Labels["app"] != "count" || len(got.Metadata.OwnerReferences) != 1 ||
		!maps.Equal(got.Metadata.OwnerReferences[0], owner) || !maps.Equal(got.Data, map[string]string{"rows": "3", "writtenBy": "count-xyz"}) {
		t.Errorf("posted %+v", got)
	}
}

// A server the mounted CA did not certify never sees the token.
func TestRunVerifiesTheServer(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the token reached a server the CA did not certify")
	}))
	defer api.Close()
	err := run(serviceAccount(t, otherCA(t), api))
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("err %v, want the certificate refused", err)
	}
}

func TestRunQuotesTheRefusal(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"kind":"Status","message":"configmaps is forbidden"}`, http.StatusForbidden)
	}))
	defer api.Close()
	err := run(serviceAccount(t, api.Certificate(), api))
	if err == nil || !strings.Contains(err.Error(), `: 403 Forbidden: {"kind":"Status","message":"configmaps is forbidden"}`) {
		t.Errorf("err %v, want the API server's answer", err)
	}
}

// otherCA is a self-signed CA for 127.0.0.1 that signed nothing else
// (every httptest server has the same certificate).
func otherCA(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
