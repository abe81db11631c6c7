//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// relRoleDoc is the Role docs/least-privilege.md documents; the test
// reads it from there, so the document and the test cannot drift apart.
const relRoleDoc = "docs/least-privilege.md"

// relDocRole reads the first ```yaml block holding "kind: Role" from the
// least-privilege document.
func relDocRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, relRoleDoc))
	if err != nil {
		t.Fatalf("read %s: %v", relRoleDoc, err)
	}
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, doc := range strings.Split(block, "\n---\n") {
			if !strings.Contains("\n"+doc, "\nkind: Role\n") {
				continue
			}
			var role rbacv1.Role
			if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
				t.Fatalf("%s: Role: %v", relRoleDoc, err)
			}
			return &role
		}
	}
	t.Fatalf("%s has no ```yaml block with a Role", relRoleDoc)
	return nil
}

// relServiceAccountKubeconfig creates, in ns, the ServiceAccount kbrun
// bound to role (only), mints a token for it and writes a kubeconfig with
// the test cluster's server and CA and that token.
func relServiceAccountKubeconfig(t *testing.T, ns string, role *rbacv1.Role) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kbrun"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceAccount: %v", err)
	}
	role = role.DeepCopy()
	role.Namespace = ns
	if _, err := client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Role: %v", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kbrun"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kbrun", Namespace: ns}},
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create RoleBinding: %v", err)
	}
	exp := int64(3600)
	tok, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "kbrun", &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	cfg, _, _ := relAdmin(t)
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server, cl.CertificateAuthorityData, cl.InsecureSkipTLSVerify = cfg.Host, ca, cfg.Insecure
	kc.Clusters["test"] = cl
	ai := clientcmdapi.NewAuthInfo()
	ai.Token = tok.Status.Token
	kc.AuthInfos["kbrun"] = ai
	c := clientcmdapi.NewContext()
	c.Cluster, c.AuthInfo, c.Namespace = "test", "kbrun", ns
	kc.Contexts["kbrun"] = c
	kc.CurrentContext = "kbrun"
	path := filepath.Join(t.TempDir(), "kbrun-sa.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// relWithout returns role minus the given verbs on resource (a rule left
// empty is dropped).
func relWithout(role *rbacv1.Role, resource string, verbs ...string) *rbacv1.Role {
	out := role.DeepCopy()
	var rules []rbacv1.PolicyRule
	for _, r := range out.Rules {
		if relHas(r.Resources, resource) {
			var keep []string
			for _, v := range r.Verbs {
				if !relHas(verbs, v) {
					keep = append(keep, v)
				}
			}
			if len(r.Resources) > 1 {
				// Split the resource off with the reduced verbs.
				var others []string
				for _, res := range r.Resources {
					if res != resource {
						others = append(others, res)
					}
				}
				rules = append(rules, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: others, Verbs: r.Verbs})
				r.Resources = []string{resource}
			}
			r.Verbs = keep
			if len(keep) == 0 {
				continue
			}
		}
		rules = append(rules, r)
	}
	out.Rules = rules
	return out
}

// TestLeastPrivilege runs the default pipeline as a ServiceAccount bound
// only to the documented namespaced Role (namespace made beforehand,
// createNamespace=false): it passes and leaves only what was there before.
// Then with one permission taken away, the run fails with a message naming
// the verb and the resource.
func TestLeastPrivilege(t *testing.T) {
	role := relDocRole(t)

	t.Run("documented-role", func(t *testing.T) {
		ns := relNamespace(t, "lp")
		defer relDeleteNamespace(t, ns)
		kc := relServiceAccountKubeconfig(t, ns, role)
		r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns, "--set", "createNamespace=false")})
		relLogf(t, "ServiceAccount with the documented Role: exit %d in %s", r.code, r.duration.Round(time.Second))
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\n%s", r.code, r.summary())
		}
		for _, name := range []string{"builder", "copy", "build", "test", "logs", "health", "cleanup"} {
			if e := r.ends[name]; e.Status != "ok" {
				t.Errorf("task %s: %+v", name, e)
			}
		}
		if e, ok := r.ends["namespace"]; ok && e.Status != "skipped" {
			t.Errorf("namespace task %s with createNamespace=false", e.Status)
		}
		// Only what the test made itself is left (pods go with their
		// ReplicaSets a moment after the Deployments).
		var left []string
		for i := 0; i < 60; i++ {
			left = relLeftovers(t, ns, "ServiceAccount/kbrun", "Role/"+role.Name, "RoleBinding/kbrun")
			if len(left) == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		if len(left) > 0 {
			t.Errorf("left in %s after the run: %v", ns, left)
		}
	})

	for _, tc := range []struct {
		name, resource string
		verbs          []string
		code           int
		task           string
		want           []string // all in the failing task's error
	}{
		// Without any exec right: WebSocket (GET) is refused, SPDY (POST)
		// too; the message is the last one, SPDY's.
		{"no-pods-exec", "pods/exec", []string{"create", "get"}, 1, "copy", []string{"forbidden", `cannot create resource "pods/exec"`}},
		// create is what the API server authorizes an exec by (also over
		// WebSocket): without it the run fails even though get is granted.
		{"no-pods-exec-create", "pods/exec", []string{"create"}, 1, "copy", []string{"forbidden", `cannot create resource "pods/exec"`}},
		// Without get, the WebSocket attempt is refused and kbrun falls back
		// to SPDY, which create allows: the run passes.
		{"no-pods-exec-get", "pods/exec", []string{"get"}, 0, "", nil},
		{"no-deployments-patch", "deployments", []string{"patch"}, 1, "builder", []string{"forbidden: kbrun's user may not apply deployment", `cannot patch resource "deployments"`}},
		// The run's Lease (docs/ownership.md) is made before its first object.
		{"no-leases-create", "leases", []string{"create"}, 1, "builder", []string{"recording this run in the cluster: forbidden: kbrun's user may not create lease", `cannot create resource "leases"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := relNamespace(t, "lp-"+tc.name)
			defer relDeleteNamespace(t, ns)
			kc := relServiceAccountKubeconfig(t, ns, relWithout(role, tc.resource, tc.verbs...))
			r := relKbrun(t, relOpts{kubeconfig: kc, args: relPipelineArgs(ns, "--set", "createNamespace=false"), timeout: 5 * time.Minute})
			if tc.code == 0 {
				relLogf(t, "Role without %v %s: exit %d", tc.verbs, tc.resource, r.code)
				if r.code != 0 {
					t.Fatalf("exit %d, want 0\n%s", r.code, r.summary())
				}
				return
			}
			e := r.ends[tc.task]
			relLogf(t, "Role without %v %s: exit %d; task %s %s: %s", tc.verbs, tc.resource, r.code, tc.task, e.Status, e.Error)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r.summary())
			}
			if e.Status != "failed" {
				t.Fatalf("task %s: %+v, want failed\n%s", tc.task, e, r.summary())
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Error, w) {
					t.Errorf("task %s's error lacks %q: %s", tc.task, w, e.Error)
				}
			}
			if e.Attempt > 1 {
				t.Errorf("a forbidden call was retried (%d attempts)", e.Attempt)
			}
			if c := r.ends["cleanup"]; c.Status != "ok" {
				t.Errorf("cleanup: %+v", c)
			}
		})
	}
}
