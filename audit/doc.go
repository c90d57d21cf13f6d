// Package audit answers an operator's question about a running cluster: if a node dies now,
// which databases lose a replica, which lose quorum, and what is already broken?
//
// Admission only sees objects as they are created or changed. It cannot see what existed before
// Stowage was installed, nor what happened afterwards: a node that died, a volume restored on the
// wrong node, a StatefulSet scaled past the nodes it may run on. The audit looks at what is
// really there. Per StatefulSet it reports:
//
//   - spec compliance, from the same engine as the webhook and `stowage check`
//     (policy.Evaluate with the Background operation), with the same rule IDs, field paths and
//     messages: the only definition of what is wrong with the spec and with the budgets over
//     the pods (conflicting, blocking, looser than the policy or the quorum allows). The audit
//     consumes those findings and never re-derives them;
//   - actual placement: co-located replicas, and application instances sharing a node;
//   - volumes: the node each replica's local PersistentVolume is pinned to, replicas whose
//     volumes are pinned together, and pods running away from their volume;
//   - stranded replicas: volumes pinned to a node that is gone, down or cordoned, and the pods
//     that stay Pending because of it;
//   - disruption budgets: whether any exists, and their state summed up from the engine's findings;
//   - capacity: more replicas than eligible nodes under hard anti-affinity;
//   - node-loss impact: for every node, what its failure would cost.
//
// Operator custom resources that become StatefulSets (internal/operatorcr's table) are judged
// by the engine as the StatefulSet their operator makes, and their findings told at the
// resource's own fields (customresource.go). Pods that an operator makes without a StatefulSet
// (a StrimziPodSet's) are audited for placement and volumes as a StatefulSet's (podset.go).
//
// Analyze is pure: a Snapshot of listed objects, the policies and Options (including the clock
// reading) go in, a Report comes out. It does no I/O, reads no clock and does no logging, so the
// CLI, the webhook's periodic audit and the tests all get the same answer from the same input.
// Every index is built once up front, so the analysis is O(n log n) in the number of objects
// (StatefulSets × nodes for the engine's eligible-node check, which is cached by pod scheduling
// constraints here).
//
// A Report writes itself as JSON (see SCHEMA.md); converts to wgpolicyk8s.io/v1alpha2
// PolicyReports; gives the process exit code for a --fail-on severity; and gives the
// per-StatefulSet numbers behind the server's gauges. Tables, Markdown and the HTML page with its
// placement map are the separate audit/render package's job.
//
// It may import the standard library, k8s.io/api, k8s.io/apimachinery, the policy engine
// (policy and policy/api/v1alpha1), internal/policyfile for the default policy and
// internal/operatorcr for the operator resources. It never
// imports client-go or controller-runtime: listing a live cluster is the job of the separate
// audit/collect package. Nor does it import audit/render, which imports it.
package audit
