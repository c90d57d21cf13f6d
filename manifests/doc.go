// Package manifests renders Stowage's install from the sources under this folder:
//
//   - chart/ is the Helm chart, the single source of every object;
//   - chart/crds/ holds the PlacementPolicy CRD, which controller-gen generates from
//     policy/api/v1alpha1 and nobody edits by hand;
//   - install.yaml is the chart rendered for release "stowage" in namespace "stowage-system",
//     CRD included, after that Namespace, for `kubectl apply` without Helm.
//
// `go run ./manifests/gen` regenerates the CRD and install.yaml. The tests fail when either is
// stale, and check the rendered objects against the properties the webhook relies on (its
// timeouts, failure policies, excluded namespaces, certificates, pod security and RBAC).
//
// It drives the pinned helm and controller-gen binaries that `make tools` builds under bin/.
// LocalWebhooks points the rendered webhook configurations at a webhook outside the cluster.
//
// It may import the standard library and, for LocalWebhooks, k8s.io/api, apimachinery and
// internal/stream; its tests may also import the Kubernetes and cert-manager API types, CEL and
// the project's own packages.
package manifests
