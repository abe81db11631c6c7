package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryOptions say how to reach registries: credentials from the
// Docker config ($DOCKER_CONFIG, as Kaniko reads them), and with insecure
// plain HTTP or an unverified certificate (Kaniko's --insecure and
// --skip-tls-verify), or trusting a private CA besides the system's (a
// registry with a certificate of its own CA, Kaniko's
// --registry-certificate).
type registryOptions struct {
	insecure bool
	roots    *x509.CertPool
}

// trust adds the PEM certificates of file to the CAs registries are
// checked against ("" adds none: a pipeline passes -ca= without a CA).
func (o *registryOptions) trust(file string) error {
	if file == "" {
		return nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("registry CA: %w", err)
	}
	if o.roots == nil {
		if o.roots, err = x509.SystemCertPool(); err != nil {
			o.roots = x509.NewCertPool()
		}
	}
	if !o.roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("registry CA: %s holds no PEM certificate", file)
	}
	return nil
}

func (o registryOptions) ref(s string) (name.Reference, error) {
	if o.insecure {
		return name.ParseReference(s, name.Insecure)
	}
	return name.ParseReference(s)
}

func (o registryOptions) remote() []remote.Option {
	opts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH})}
	switch {
	case o.insecure:
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with -insecure
		opts = append(opts, remote.WithTransport(t))
	case o.roots != nil:
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: o.roots}
		opts = append(opts, remote.WithTransport(t))
	}
	return opts
}

func (o registryOptions) image(s string) (v1.Image, error) {
	ref, err := o.ref(s)
	if err != nil {
		return nil, err
	}
	return remote.Image(ref, o.remote()...)
}

// push writes img to s and returns its digest.
func (o registryOptions) push(s string, img v1.Image) (v1.Hash, error) {
	ref, err := o.ref(s)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, o.remote()...); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}
