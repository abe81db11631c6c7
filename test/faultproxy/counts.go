package faultproxy

import (
	"fmt"
	"sort"
	"strings"
)

// Counts returns the number of injected faults by kind (every kind present).
func (p *Proxy) Counts() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Kind]int, len(AllKinds))
	for _, k := range AllKinds {
		out[k] = 0
	}
	for _, in := range p.injections {
		out[in.Kind]++
	}
	return out
}

// CountsByClass returns injected faults by request class and kind, e.g.
// {"watch": {"cut": 3, "503": 1}}.
func (p *Proxy) CountsByClass() map[string]map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]map[Kind]int{}
	for _, in := range p.injections {
		if out[in.Class] == nil {
			out[in.Class] = map[Kind]int{}
		}
		out[in.Class][in.Kind]++
	}
	return out
}

// Requests returns how many requests the proxy received, by class.
func (p *Proxy) Requests() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.requests))
	for k, v := range p.requests {
		out[k] = v
	}
	return out
}

// Log returns every request received so far, in order (faulted ones too).
func (p *Proxy) Log() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Injections returns every injected fault so far, in order.
func (p *Proxy) Injections() []Injection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Injection(nil), p.injections...)
}

// ResetCounts forgets the counts, injections and request log (the rate stays).
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injections = nil
	p.requests = map[string]int{}
	p.log = nil
	p.logGen++
}

// Summary is a one-line account: requests and faults by kind.
func (p *Proxy) Summary() string {
	req := p.Requests()
	total := 0
	for _, n := range req {
		total += n
	}
	counts := p.Counts()
	parts := make([]string, 0, len(counts))
	sum := 0
	for _, k := range AllKinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
		sum += counts[k]
	}
	classes := make([]string, 0, len(req))
	for c := range req {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	cl := make([]string, len(classes))
	for i, c := range classes {
		cl[i] = fmt.Sprintf("%s=%d", c, req[c])
	}
	return fmt.Sprintf("%d requests (%s), %d faults (%s)", total, strings.Join(cl, " "), sum, strings.Join(parts, " "))
}
