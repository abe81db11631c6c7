package diagnose

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/kbrun/kbrun/engine/pipeline"
)

func object(apiVersion, kind, name string, labels map[string]any, extra map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "team", "labels": labels, "managedFields": []any{map[string]any{"manager": "kbrun"}}}}
	for k, v := range extra {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

// TestExtraResources: diagnose: resources by name (kind alone, or with
// apiVersion) and by selector are dumped as YAML without managed fields,
// a Secret's values never; a missing one is a note.
func TestExtraResources(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Secret"}, {Group: "apps", Version: "v1", Kind: "Deployment"}} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList", {Version: "v1", Resource: "secrets"}: "SecretList",
		{Group: "apps", Version: "v1", Resource: "deployments"}: "DeploymentList",
	},
		object("v1", "ConfigMap", "web-config", map[string]any{"app": "web"}, map[string]any{"data": map[string]any{"mode": "debug"}}),
		object("v1", "ConfigMap", "other", map[string]any{"app": "db"}, nil),
		object("v1", "Secret", "app-token", nil, map[string]any{"data": map[string]any{"token": "aHVudGVyMi1zM2NyZXQ="}}),
		object("apps/v1", "Deployment", "web", nil, nil),
	)
	api := newAPI(t)
	clients := api.clients()
	clients.Dynamic, clients.Mapper = dyn, mapper
	dir := t.TempDir()
	_, err := Collect(context.Background(), Request{Clients: clients, Dir: dir, Failed: []Failed{{Task: "check", Namespace: "team",
		Diagnose: &pipeline.Diagnose{Resources: []pipeline.DiagnoseResource{
			{Kind: "ConfigMap", Selector: "app=web"},
			{Kind: "Secret", Name: "app-token"},
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			{Kind: "ConfigMap", Name: "gone"},
		}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cms := read(t, dir, "extra/check/configmap__app_web_.yaml")
	if !strings.Contains(cms, "name: web-config") || !strings.Contains(cms, "mode: debug") || strings.Contains(cms, "name: other") || strings.Contains(cms, "managedFields") {
		t.Errorf("the selected ConfigMaps:\n%s", cms)
	}
	if s := read(t, dir, "extra/check/secret_app-token.yaml"); !strings.Contains(s, "token: (not shown)") || strings.Contains(s, "aHVudGVy") {
		t.Errorf("the Secret shows its value:\n%s", s)
	}
	if d := read(t, dir, "extra/check/deployment_web.yaml"); !strings.Contains(d, "kind: Deployment") {
		t.Errorf("the Deployment:\n%s", d)
	}
	if s := read(t, dir, "summary.txt"); !strings.Contains(s, "diagnose resource configmap/gone of task check: ") {
		t.Errorf("summary.txt does not note the missing ConfigMap:\n%s", s)
	}
}
