// Package check runs the policy engine offline over manifests, as `stowage check` does: it reads
// files, directories and standard input, evaluates every StatefulSet and PersistentVolumeClaim
// exactly as the admission webhook would on CREATE, and reports the violations, the patch and
// the objects Stowage would create, as text, JSON, SARIF or JUnit. It can also write the fixed
// manifests and unified diffs.
//
// It adapts inputs to package policy and renders its results; it decides nothing itself. It
// may import the standard library, Kubernetes API types, the policy engine and the stream reader.
package check
