package deploy

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The rollout judgements of kubectl rollout status (k8s.io/kubectl
// pkg/polymorphichelpers/rollout_status.go, revision 0), ported with their
// exact messages: importing that package runs kubectl's scheme and its
// dependencies' package initialisation at every kbrun start. status_test.go
// compares both on the same objects.

// timedOutReason is the Progressing condition's reason once a Deployment
// exceeds its progressDeadlineSeconds.
const timedOutReason = "ProgressDeadlineExceeded"

// workloadStatus judges a Deployment, DaemonSet or StatefulSet as
// StatusViewerFor(its group and kind).Status(u, 0) does; the message ends
// with a newline, as kubectl's.
func workloadStatus(u *unstructured.Unstructured) (string, bool, error) {
	gk := u.GroupVersionKind().GroupKind()
	switch {
	case (gk.Group == "apps" || gk.Group == "extensions") && gk.Kind == "Deployment":
		return deploymentStatus(u)
	case (gk.Group == "apps" || gk.Group == "extensions") && gk.Kind == "DaemonSet":
		return daemonSetStatus(u)
	case gk.Group == "apps" && gk.Kind == "StatefulSet":
		return statefulSetStatus(u)
	}
	return "", false, fmt.Errorf("no status viewer has been implemented for %v", gk)
}

func deploymentStatus(u *unstructured.Unstructured) (string, bool, error) {
	d := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), d); err != nil {
		return "", false, fmt.Errorf("failed to convert %T to %T: %v", u, d, err)
	}
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			if c.Reason == timedOutReason {
				return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
			}
			break
		}
	}
	st := d.Status
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", d.Name, st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", d.Name), true, nil
}

func daemonSetStatus(u *unstructured.Unstructured) (string, bool, error) {
	ds := &appsv1.DaemonSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), ds); err != nil {
		return "", false, fmt.Errorf("failed to convert %T to %T: %v", u, ds, err)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		// kubectl names the StatefulSet constant here; both are "RollingUpdate".
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if ds.Generation > ds.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...\n", false, nil
	}
	st := ds.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n", ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n", ds.Name, st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", ds.Name), true, nil
}

func statefulSetStatus(u *unstructured.Unstructured) (string, bool, error) {
	sts := &appsv1.StatefulSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), sts); err != nil {
		return "", false, fmt.Errorf("failed to convert %T to %T: %v", u, sts, err)
	}
	if sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if sts.Status.ObservedGeneration == 0 || sts.Generation > sts.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...\n", false, nil
	}
	replicas, st := sts.Spec.Replicas, sts.Status
	if replicas != nil && st.ReadyReplicas < *replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", *replicas-st.ReadyReplicas), false, nil
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if replicas != nil && ru.Partition != nil && st.UpdatedReplicas < *replicas-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n", st.UpdatedReplicas, *replicas-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n", st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", st.CurrentReplicas, st.CurrentRevision), true, nil
}
