// Package webhook is Stowage's admission adapter: it turns AdmissionReviews into calls to the
// policy engine and the engine's results into patches, warnings and denials, and it keeps the
// policies in force from the PlacementPolicy CRD. The controllers (policy status, budgets, the
// audit loop) are in package controllers.
//
// It decides nothing itself: every decision comes from package policy, which is also what
// `stowage check` and `stowage audit` call. On the request path it reads facts from informer
// caches only, never from the API server.
//
// It may import the standard library, Kubernetes API and client libraries, controller-runtime,
// Prometheus, and Stowage's policy packages. cmd/stowage wires it into a manager.
package webhook
