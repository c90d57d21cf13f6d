// Package cluster starts a real Kubernetes control plane for Stowage's end-to-end tests: etcd
// and kube-apiserver, and with Options.Scheduling also kube-controller-manager, kube-scheduler
// and kwok (Options.FakeKubelets: kwok alone), all from locally built binaries (`make tools` builds them into bin/). kwok plays
// the kubelet of fake Nodes, so Pods are really scheduled, bound and reported Running without a
// container runtime, and the controllers Stowage relies on (statefulset, disruption, garbage
// collector, node lifecycle, persistentvolume binder) really run.
//
// Tests use a real control plane rather than fakes because what Stowage changes only shows in
// the interplay of admission, the scheduler and the controllers: a StatefulSet whose replicas
// stack on one node, a PodDisruptionBudget that blocks a drain, a local volume that pins a
// replica to its node.
//
// Everything binds to 127.0.0.1 on free ports, so several clusters can run side by side. Start
// generates its PKI in Go, writes an admin kubeconfig and returns ready-made clients; Stop
// stops every process it started. Each component's output is kept in a log file in the work
// folder, and LogTail shows the end of each when a test fails.
//
// It is test-only code. It may import the standard library (testing included), k8s.io/api,
// apimachinery, client-go, controller-runtime's client and logr's funcr; never Stowage's own
// packages, so that suites test the product from the outside.
package cluster
