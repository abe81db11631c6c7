package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// event is one line of events.txt: the events of one object with the same
// type, reason and message, counted together.
type event struct {
	Namespace, Object, Type, Reason, Message string
	First, Last                              time.Time
	Count                                    int32
}

// when is the last time e happened (events.k8s.io's series, the core
// fields, the creation time: whichever the server filled).
func when(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func firstTime(e corev1.Event) time.Time {
	switch {
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return when(e)
}

func times(e corev1.Event) int32 {
	n := max(e.Count, 1)
	if e.Series != nil {
		n = max(n, e.Series.Count)
	}
	return n
}

// dedupe merges the events that say the same of the same object, adding
// their counts, and sorts them by the last time they happened, oldest
// first (ties: by object, then reason).
func dedupe(evs []corev1.Event) []event {
	byKey := map[string]*event{}
	var out []*event
	for _, e := range evs {
		obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
		msg := strings.TrimSpace(e.Message)
		key := strings.Join([]string{e.Namespace, obj, e.Type, e.Reason, msg}, "\x00")
		first, last := firstTime(e), when(e)
		if have := byKey[key]; have != nil {
			have.Count += times(e)
			if last.After(have.Last) {
				have.Last = last
			}
			if first.Before(have.First) {
				have.First = first
			}
			continue
		}
		ev := &event{Namespace: e.Namespace, Object: obj, Type: e.Type, Reason: e.Reason, Message: msg, First: first, Last: last, Count: times(e)}
		byKey[key] = ev
		out = append(out, ev)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Last.Equal(b.Last) {
			return a.Last.Before(b.Last)
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		return a.Reason < b.Reason
	})
	list := make([]event, len(out))
	for i, e := range out {
		list[i] = *e
	}
	return list
}

// formatEvents is events.txt: one line per event, oldest first.
func formatEvents(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d since %s)", e.Count, e.First.UTC().Format(time.TimeOnly))
		}
		fmt.Fprintf(&b, "%s  %-7s %-22s %s/%s%s: %s\n", e.Last.UTC().Format(time.RFC3339), e.Type, e.Reason, e.Namespace, e.Object, count, e.Message)
	}
	return b.String()
}

// latestWarning is the last Warning among evs, or nil.
func latestWarning(evs []event) *event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == corev1.EventTypeWarning {
			return &evs[i]
		}
	}
	return nil
}
