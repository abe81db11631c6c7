// Package apicost sorts the requests a client sent to the API server, as
// test/faultproxy logs them, into the kinds BENCHMARKS.md reports: what a
// run costs the API server, by kind of request.
package apicost

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/test/faultproxy"
)

// Kind is a kind of request.
type Kind string

// The kinds, in the order tables show them.
const (
	// Discovery: /api, /apis and their group versions, /version, /openapi.
	Discovery Kind = "discovery"
	// Get reads one object by name.
	Get Kind = "get"
	// List reads a collection (also an informer's list before its watch).
	List Kind = "list"
	// Watch opens a watch.
	Watch Kind = "watch"
	// Apply is a server-side apply (PATCH, application/apply-patch).
	Apply Kind = "apply"
	// Patch is any other PATCH (kubectl's client-side apply).
	Patch Kind = "patch"
	// Create is a POST of an object (not an exec).
	Create Kind = "create"
	// Update is a PUT.
	Update Kind = "update"
	// Delete is a DELETE.
	Delete Kind = "delete"
	// Lease is any request on coordination.k8s.io Leases (kbrun's run
	// records): create, renew, list, watch, delete.
	Lease Kind = "lease"
	// Exec is an exec, attach or port-forward stream.
	Exec Kind = "exec"
	// Logs reads a pod's log, followed or not.
	Logs Kind = "logs"
	// Other is anything else.
	Other Kind = "other"
)

// Kinds lists every kind in table order.
var Kinds = []Kind{Discovery, Get, List, Watch, Apply, Patch, Create, Update, Delete, Lease, Exec, Logs, Other}

// Of says what kind of request r is.
func Of(r faultproxy.Request) Kind {
	switch r.Class {
	case "exec", "attach", "portforward":
		return Exec
	}
	if isDiscovery(r.Path) {
		return Discovery
	}
	resource, name, sub, ok := parse(r.Path)
	if !ok {
		return Other
	}
	switch {
	case resource == "pods" && sub == "log":
		return Logs
	case resource == "leases":
		return Lease
	case r.Class == "watch":
		return Watch
	}
	switch r.Method {
	case "GET":
		if name == "" {
			return List
		}
		return Get
	case "PATCH":
		if strings.HasPrefix(r.ContentType, "application/apply-patch") {
			return Apply
		}
		return Patch
	case "POST":
		return Create
	case "PUT":
		return Update
	case "DELETE":
		return Delete
	}
	return Other
}

func isDiscovery(path string) bool {
	if path == "/version" || path == "/openapi" || strings.HasPrefix(path, "/openapi/") {
		return true
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch segs[0] {
	case "api":
		return len(segs) <= 2 // /api, /api/v1
	case "apis":
		return len(segs) <= 3 // /apis, /apis/G, /apis/G/V
	}
	return false
}

// parse splits a resource path: /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]]
// and /apis/G/V/... (the old /watch/ prefix included).
func parse(path string) (resource, name, sub string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(segs) > 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) > 3 && segs[0] == "apis":
		rest = segs[3:]
	default:
		return "", "", "", false
	}
	if rest[0] == "watch" {
		rest = rest[1:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return "", "", "", false
	}
	resource = rest[0]
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = rest[2]
	}
	return resource, name, sub, true
}

// Breakdown counts requests by kind.
type Breakdown map[Kind]int

// Count sorts reqs into a Breakdown.
func Count(reqs []faultproxy.Request) Breakdown {
	b := Breakdown{}
	for _, r := range reqs {
		b[Of(r)]++
	}
	return b
}

// Total is the number of requests.
func (b Breakdown) Total() int {
	n := 0
	for _, v := range b {
		n += v
	}
	return n
}

// String is a one-line account: "57 requests (discovery 2, get 9, ...)".
func (b Breakdown) String() string {
	var parts []string
	for _, k := range Kinds {
		if b[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, b[k]))
		}
	}
	return fmt.Sprintf("%d requests (%s)", b.Total(), strings.Join(parts, ", "))
}

// Table renders breakdowns side by side as a Markdown table, one column
// per breakdown, one row per kind that any of them has, and the totals.
func Table(headers []string, bs []Breakdown) string {
	var s strings.Builder
	s.WriteString("| kind |")
	for _, h := range headers {
		s.WriteString(" " + h + " |")
	}
	s.WriteString("\n|---|" + strings.Repeat("---|", len(headers)) + "\n")
	for _, k := range Kinds {
		any := false
		for _, b := range bs {
			any = any || b[k] > 0
		}
		if !any {
			continue
		}
		fmt.Fprintf(&s, "| %s |", k)
		for _, b := range bs {
			fmt.Fprintf(&s, " %d |", b[k])
		}
		s.WriteString("\n")
	}
	s.WriteString("| **total** |")
	for _, b := range bs {
		fmt.Fprintf(&s, " **%d** |", b.Total())
	}
	s.WriteString("\n")
	return s.String()
}

// Lines lists the requests one per line ("GET /api/v1/... [kind]"), for
// logs that show where a count comes from.
func Lines(reqs []faultproxy.Request) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		q := ""
		if r.Query != "" {
			q = "?" + r.Query
		}
		out = append(out, fmt.Sprintf("%-6s %s%s [%s]", r.Method, r.Path, q, Of(r)))
	}
	return out
}

// MedianRun is the breakdown whose total is the median of bs (the lower
// middle one for an even count), so that its kinds add up to its total.
func MedianRun(bs []Breakdown) Breakdown {
	if len(bs) == 0 {
		return Breakdown{}
	}
	s := append([]Breakdown(nil), bs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Total() < s[j].Total() })
	return s[(len(s)-1)/2]
}
