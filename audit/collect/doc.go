// Package collect lists what `stowage audit` reads from a live cluster into an audit.Snapshot:
// StatefulSets, their pods, PersistentVolumeClaims, PersistentVolumes, nodes,
// PodDisruptionBudgets, StorageClasses, namespaces and, when their CRDs are installed,
// PlacementPolicies and the operator resources of internal/operatorcr's table (found by
// discovery; a kind that is not served or may not be listed is noted in Snapshot.Skipped, not an
// error). It is the only part of the audit that talks to an API server, so that package audit
// stays pure.
//
// Every list is paginated (pages of 500, following the continue token), as Gatekeeper's audit
// does, so that a large cluster never answers one huge list. Pods that neither a StatefulSet
// nor a possible pod set's controller (audit.PodSetOwner) controls are dropped page by page, the
// others are cut down to the fields the analysis reads (name, labels, owner, node, claims, phase
// and conditions), and managed fields are cleared, so memory follows the stateful part of the
// cluster rather than all of it. It reads only; it never writes.
//
// It may import the standard library, k8s.io/api, k8s.io/apimachinery, k8s.io/client-go
// (kubernetes, discovery and dynamic interfaces), package audit, internal/operatorcr's table and
// the policy API types.
package collect
