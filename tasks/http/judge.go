package http

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kbrun/kbrun/engine/task"
)

// apiRefusal says why the API server itself refused the request (no
// rights, bad credentials), "" for an answer worth waiting on: the
// backend's, or the API server's 503 while the Service has no ready
// endpoint yet.
func apiRefusal(r response) string {
	if r.status != nethttp.StatusForbidden && r.status != nethttp.StatusUnauthorized {
		return ""
	}
	var st metav1.Status
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || st.Kind != "Status" {
		return "" // the backend's own 401/403
	}
	return fmt.Sprintf("%d %s: %s", r.status, st.Reason, st.Message)
}

// judge returns what is wrong with a response ("" when nothing), and fills
// the outputs it computes (value, named groups).
func (a *action) judge(r response, out task.Outputs) string {
	if !a.statusOK(r.status) {
		return fmt.Sprintf("status %d, body %s", r.status, snippet(r.body))
	}
	var wrong []string
	for _, c := range a.Expect.Contains {
		if !strings.Contains(r.body, c) {
			wrong = append(wrong, "the body does not contain "+strconv.Quote(c))
		}
	}
	for _, re := range a.res {
		m := re.FindStringSubmatch(r.body)
		if m == nil {
			wrong = append(wrong, "the body does not match /"+re.String()+"/")
			continue
		}
		for i, n := range re.SubexpNames() {
			if n != "" {
				out[n] = m[i]
			}
		}
	}
	if a.jp != nil {
		v, why := a.value(r.body)
		out["value"] = v
		switch {
		case why != "":
			wrong = append(wrong, why)
		case a.Expect.Value != nil && v != *a.Expect.Value:
			wrong = append(wrong, fmt.Sprintf("%s is %q, expected %q", a.Expect.JSONPath, v, *a.Expect.Value))
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	if r.cut {
		wrong = append(wrong, fmt.Sprintf("(only the first %d bytes of the body were read)", maxBody))
	}
	return fmt.Sprintf("status %d, but %s; body %s", r.status, strings.Join(wrong, ", "), snippet(r.body))
}

func (a *action) statusOK(code int) bool {
	if len(a.Expect.Status) == 0 {
		return code >= 200 && code < 300
	}
	for _, c := range a.Expect.Status {
		if c == code {
			return true
		}
	}
	return false
}

// value evaluates the jsonpath over the JSON body.
func (a *action) value(body string) (string, string) {
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return "", "the body is not JSON, so " + a.Expect.JSONPath + " cannot be read"
	}
	results, err := a.jp.FindResults(doc)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return "", a.Expect.JSONPath + " finds nothing in the body"
	}
	var buf bytes.Buffer
	if err := a.jp.PrintResults(&buf, results[0]); err != nil {
		return "", err.Error()
	}
	return buf.String(), ""
}

func snippet(body string) string {
	body = strings.TrimSpace(body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	if body == "" {
		return "empty"
	}
	return strconv.Quote(body)
}
