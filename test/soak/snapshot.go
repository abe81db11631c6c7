package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

type cluster struct {
	typed kubernetes.Interface
	dyn   dynamic.Interface
	disc  discovery.DiscoveryInterface
}

// snapshot counts what could grow.
type snapshot struct {
	objects  map[string]int // by resource, every namespace (events excluded)
	pods     int
	leases   int
	images   int    // the node's, in containerd's k8s.io namespace (-1: unknown)
	imageErr string // why images is unknown
	repos    map[string]int
	regBytes int64 // the registry's storage (-1: unknown)
	tmp      []string
	cacheN   int // files in the runs' discovery cache
}

func (c *cluster) snapshot(cache string) snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := snapshot{objects: map[string]int{}, repos: map[string]int{}, images: -1, regBytes: -1}
	lists, err := c.disc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		fatalf("discovery: %v", err)
	}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || res.Kind == "Event" || !has(res.Verbs, "list") {
				continue
			}
			items, err := c.dyn.Resource(gv.WithResource(res.Name)).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			key := res.Name
			if gv.Group != "" {
				key += "." + gv.Group
			}
			s.objects[key] = len(items.Items)
		}
	}
	s.pods = s.objects["pods"]
	s.leases = s.objects["leases.coordination.k8s.io"]
	s.images, s.imageErr = nodeImages()
	s.repos = registryTags()
	s.regBytes = c.registryBytes(ctx)
	s.tmp, _ = filepath.Glob(filepath.Join(os.TempDir(), "kbrun-*"))
	_ = filepath.WalkDir(cache, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s.cacheN++
		}
		return nil
	})
	return s
}

// nodeImages counts the images in containerd's k8s.io namespace.
func nodeImages() (int, string) {
	sock := "/var/lib/kbrun-cluster/containerd/containerd.sock"
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		found, _ := filepath.Glob("/var/cache/kbrun/containerd-*/ctr")
		if len(found) == 0 {
			return -1, "no ctr binary"
		}
		ctr = found[len(found)-1]
	}
	out, err := exec.Command(ctr, "--address", sock, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return -1, fmt.Sprintf("ctr images ls: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n, ""
}

// registryTags lists the harness registry's repositories and their tags.
func registryTags() map[string]int {
	out := map[string]int{}
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	if getJSON("http://localhost:5000/v2/_catalog?n=1000", &cat) != nil {
		return out
	}
	for _, r := range cat.Repositories {
		var tags struct {
			Tags []string `json:"tags"`
		}
		if getJSON("http://localhost:5000/v2/"+r+"/tags/list", &tags) == nil {
			out[r] = len(tags.Tags)
		}
	}
	return out
}

func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}

// registryBytes is the size of the registry pod's emptyDir.
func (c *cluster) registryBytes(ctx context.Context) int64 {
	pods, err := c.typed.CoreV1().Pods("kbrun-registry").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		return -1
	}
	p := pods.Items[0]
	dirs, _ := filepath.Glob("/var/lib/*/pods/" + string(p.UID) + "/volumes/kubernetes.io~empty-dir/data")
	more, _ := filepath.Glob("/var/lib/kbrun-cluster/*/pods/" + string(p.UID) + "/volumes/kubernetes.io~empty-dir/data")
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		return -1
	}
	var n int64
	_ = filepath.WalkDir(dirs[0], func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
