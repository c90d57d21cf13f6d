// Package webhook is Stowage's admission adapter and its controllers: it turns AdmissionReviews
// into calls to the policy engine and the engine's results into patches, warnings and denials;
// it keeps the policies in force from the PlacementPolicy CRD; and it keeps one
// PodDisruptionBudget per replicated StatefulSet.
//
// It decides nothing itself: every decision comes from package policy, which is also what
// `stowage check` and `stowage audit` call. On the request path it reads facts from informer
// caches only, never from the API server.
//
// It may import the standard library, Kubernetes API and client libraries, controller-runtime,
// Prometheus, and Stowage's policy packages. cmd/stowage wires it into a manager.
package webhook
