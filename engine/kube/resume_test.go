package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// apiLog is a pod API that serves lists and watches from a script and
// records what was asked.
type apiLog struct {
	mu   sync.Mutex
	reqs []string
}

func (a *apiLog) add(s string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, s)
	return len(a.reqs)
}

func (a *apiLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

func podJSON(name, rv string) string {
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":"ns","resourceVersion":%q}}`, name, rv)
}

// The watches kbrun keeps (informers) resume from the last
// resourceVersion they saw when their stream breaks, and list again only
// when the API server says that version is gone (410): an API server that
// restarts costs no re-list, one that compacted its history does.
func TestWatchResumesAndRelistsOn410(t *testing.T) {
	log := &apiLog{}
	var mu sync.Mutex
	lists := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		fl := w.(http.Flusher)
		event := func(typ, obj string) {
			fmt.Fprintf(w, `{"type":%q,"object":%s}`+"\n", typ, obj)
			fl.Flush()
		}
		// A list, or its streaming form (a watch that first sends what
		// is there, then a bookmark).
		if q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true" {
			log.add("list")
			mu.Lock()
			lists++
			n := lists
			mu.Unlock()
			items, rv := []string{podJSON("a", "10")}, "10"
			if n > 1 {
				items, rv = []string{podJSON("a", "10"), podJSON("c", "30")}, "30"
			}
			if q.Get("watch") != "true" {
				fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":%q},"items":[%s]}`, rv, strings.Join(items, ","))
				return
			}
			for _, it := range items {
				event("ADDED", it)
			}
			event("BOOKMARK", fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":%q,"annotations":{"k8s.io/initial-events-end":"true"}}}`, rv))
			if n == 1 {
				event("ADDED", podJSON("b", "11"))
				return // the stream breaks: the server went away
			}
			<-r.Context().Done()
			return
		}
		log.add("watch from " + q.Get("resourceVersion"))
		mu.Lock()
		n := lists
		mu.Unlock()
		switch {
		case n == 1 && q.Get("resourceVersion") == "10":
			event("ADDED", podJSON("b", "11"))
			// the stream breaks: the server went away
		case n == 1:
			// the server lost that history
			event("ERROR", `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 11 (25)","reason":"Expired","code":410}`)
		default:
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	pods := cs.CoreV1().Pods("ns")
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan struct{})
	var once sync.Once
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == "ns" && p.Name == "c" {
			once.Do(func() { close(seen) })
		}
	}}); err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	select {
	case <-seen:
	case <-time.After(20 * time.Second):
		t.Fatalf("pod c never seen; requests: %v", log.all())
	}
	got := log.all()
	// As a plain list, the list then a watch from its version; as a
	// streaming list, the list's stream goes on as the watch.
	want := strings.Join([]string{"list", "watch from 10", "watch from 11", "list"}, ", ")
	if got[1] == "watch from 11" {
		want = strings.Join([]string{"list", "watch from 11", "list"}, ", ")
	}
	if !strings.HasPrefix(strings.Join(got, ", "), want) {
		t.Fatalf("requests %v, want %v first", got, want)
	}
	if _, ok, _ := inf.GetStore().GetByKey("ns/b"); ok {
		t.Errorf("pod b, gone from the re-list, is still in the store")
	}
}
