package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

var cm = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func ref(name string) ObjectRef {
	return ObjectRef{GVR: cm, Kind: "ConfigMap", Namespace: "ones", Name: name}
}

func names(refs []ObjectRef) string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

// An object applied twice is recorded once, at its first place; Remove
// forgets exactly what it is given; List is a copy.
func TestAppliedSetAddRemove(t *testing.T) {
	var s AppliedSet
	a2 := ref("a")
	a2.Task = "later"
	s.Add(ref("a"), ref("b"))
	s.Add(ref("c"), a2)
	if got := names(s.List()); got != "a,b,c" {
		t.Fatalf("after Add: %s, want a,b,c", got)
	}
	if s.List()[0].Task != "" {
		t.Errorf("the second apply of a replaced the first record")
	}
	other := ref("b")
	other.Namespace = "twos"
	s.Remove(other, ref("c"))
	if got := names(s.List()); got != "a,b" {
		t.Fatalf("after Remove: %s, want a,b (b in another namespace is another object)", got)
	}
	l := s.List()
	l[0].Name = "changed"
	if s.List()[0].Name != "a" {
		t.Error("List shares its backing array with the set")
	}
}

// Adopt adds what ended runs left; an object recorded as shared with the
// run that left it (Existed, same Run) becomes the run's to delete.
func TestAppliedSetAdopt(t *testing.T) {
	var s AppliedSet
	shared := ref("shared")
	shared.Existed, shared.Run = true, "old-run"
	user := ref("user")
	user.Existed = true // a user's object, no run label
	s.Add(shared, user)
	left := ref("shared")
	left.Run, left.LeftBy = "old-run", "old-run"
	userLeft := ref("user")
	userLeft.Run = "old-run"
	s.Adopt(left, userLeft, ref("new"))
	got := s.List()
	if names(got) != "shared,user,new" {
		t.Fatalf("after Adopt: %s", names(got))
	}
	if got[0].Existed || got[0].LeftBy != "old-run" {
		t.Errorf("shared object not taken over: %+v", got[0])
	}
	if !got[1].Existed {
		t.Errorf("a user's object (no run label) became the run's to delete: %+v", got[1])
	}
}

func writeKubeconfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func flags(t *testing.T, kubeconfig string, set func(*genericclioptions.ConfigFlags)) *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.KubeConfig = &kubeconfig
	cache := t.TempDir()
	f.CacheDir = &cache
	if set != nil {
		set(f)
	}
	return f
}

// No cluster anywhere: the error says where kbrun looked and what to give,
// in kubectl's words, instead of kubectl's localhost:8080 refusal later.
func TestFlagsProviderNoCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	kc := writeKubeconfig(t, "apiVersion: v1\nkind: Config\n")
	_, err := NewFlagsProvider(flags(t, kc, nil)).Clients()
	if err == nil {
		t.Fatal("no error without a cluster")
	}
	for _, want := range []string{"no cluster is configured", kc, "localhost:8080", "--kubeconfig, --context or --server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in: %v", want, err)
		}
	}
}

const oneCluster = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team-a}
current-context: ctx
`

// One set of clients per run, built once, with the context's namespace;
// -n makes it explicit. Building them sends no request.
func TestFlagsProviderClients(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	kc := writeKubeconfig(t, oneCluster)
	p := NewFlagsProvider(flags(t, kc, nil))
	c, err := p.Clients()
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "team-a" || c.ExplicitNamespace {
		t.Errorf("namespace %q explicit %v, want the context's team-a, not explicit", c.Namespace, c.ExplicitNamespace)
	}
	if c.Config.Host != "https://127.0.0.1:1" || c.Config.QPS != 50 || c.Config.Burst != 100 {
		t.Errorf("config host %s QPS %v burst %d", c.Config.Host, c.Config.QPS, c.Config.Burst)
	}
	again, _ := p.Clients()
	if again != c {
		t.Error("a second call built new clients")
	}
	ns := "team-b"
	c, err = NewFlagsProvider(flags(t, kc, func(f *genericclioptions.ConfigFlags) { f.Namespace = &ns })).Clients()
	if err != nil || c.Namespace != "team-b" || !c.ExplicitNamespace {
		t.Errorf("with -n: %+v %v", c, err)
	}
	// --server alone is a configured cluster.
	srv := "https://127.0.0.1:2"
	empty := writeKubeconfig(t, "apiVersion: v1\nkind: Config\n")
	c, err = NewFlagsProvider(flags(t, empty, func(f *genericclioptions.ConfigFlags) { f.APIServer = &srv })).Clients()
	if err != nil || c.Config.Host != srv || c.Namespace != "default" {
		t.Errorf("with --server: %+v %v", c, err)
	}
}

func TestStaticProvider(t *testing.T) {
	if _, err := (StaticProvider{}).Clients(); err == nil {
		t.Error("an empty StaticProvider gave clients")
	}
	c := &Clients{Namespace: "x"}
	if got, err := (StaticProvider{C: c}).Clients(); got != c || err != nil {
		t.Errorf("%v %v", got, err)
	}
}
