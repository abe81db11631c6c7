package valid

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// methods are the HTTP methods the API server's proxy subresources pass on
// (each is authorized as a verb of its own).
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Method checks an HTTP method: one the API server's proxy passes on, in
// upper case (methods are case-sensitive).
func Method(m string) error {
	if slices.Contains(methods, m) {
		return nil
	}
	if slices.Contains(methods, strings.ToUpper(m)) {
		return fmt.Errorf("HTTP method %q: methods are case-sensitive: give %q", m, strings.ToUpper(m))
	}
	return fmt.Errorf("%q is not an HTTP method the API server's proxy passes on; give one of %s", m, strings.Join(methods, ", "))
}

// HeaderName checks an HTTP header name: an RFC 9110 token (no spaces,
// colons or control characters).
func HeaderName(name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("%q is not a valid HTTP header name: a header name is letters, digits and !#$%%&'*+-.^_`|~, without spaces or colons", name)
	}
	return nil
}

// HeaderValue checks an HTTP header value: no CR, LF or other control
// characters (which would end the header and start another).
func HeaderValue(value string) error {
	if !httpguts.ValidHeaderFieldValue(value) {
		return fmt.Errorf("%q is not a valid HTTP header value: it holds a control character (CR, LF, NUL...)", value)
	}
	return nil
}

// Path checks the path (and query) of a request: starting with /, no
// control characters (CR and LF would split the request) and no spaces,
// parsable by net/url as a request URI.
func Path(p string) error {
	if i := strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }); i >= 0 {
		return fmt.Errorf("%q is not a valid request path: it holds %q at byte %d (escape it: %s)", p, p[i], i, url.PathEscape(p[i:i+1]))
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q: a path starts with /", p)
	}
	if _, err := url.ParseRequestURI(p); err != nil {
		return fmt.Errorf("%q is not a valid request path: %v", p, unwrapURLError(err))
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
