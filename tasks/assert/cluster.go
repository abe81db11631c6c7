package assert

// UsesCluster implements task.ClusterType: kbrun checks the cluster
// configuration before a pipeline with this task starts.
func (Type) UsesCluster() bool { return true }
