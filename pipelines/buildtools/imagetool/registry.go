package main

import (
	"crypto/tls"
	"net/http"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryOptions say how to reach registries: credentials from the
// Docker config ($DOCKER_CONFIG, as Kaniko reads them), and with insecure
// plain HTTP or an unverified certificate (Kaniko's --insecure and
// --skip-tls-verify).
type registryOptions struct {
	insecure bool
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
	if o.insecure {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with -insecure
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
