// Package webhook is Stowage's admission adapter: it turns AdmissionReviews into calls to the
// policy engine and the engine's results into patches, warnings and denials, and it keeps the
// policies in force from the PlacementPolicy CRD. The controllers (policy status, budgets, the
// audit loop) are in package controllers.
//
// Operator custom resources that become StatefulSets (internal/operatorcr's table) are judged on
// the validating endpoint as the StatefulSet they will become, and answered with warnings only:
// never denied, never changed (custom.go says why).
//
// It decides nothing itself: every decision comes from package policy, which is also what
// `stowage check` and `stowage audit` call. On the request path it reads facts from informer
// caches only, never from the API server.
//
// It may import the standard library, Kubernetes API and client libraries, controller-runtime,
// Prometheus, and Stowage's policy packages. cmd/stowage wires it into a manager.
package webhook
