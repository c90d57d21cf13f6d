// Package controllers holds Stowage's controllers, which run on the elected leader only: the
// PlacementPolicy status reconciler, the budget reconciler that keeps one PodDisruptionBudget
// per replicated StatefulSet, and the audit loop that exports the audit's gauges.
//
// They live apart from package webhook, the admission adapter, so that cmd/stowage can run them
// in a manager of their own: losing the leader lease stops and restarts the controllers, never
// the admission server.
//
// It may import the standard library, Kubernetes API and client libraries, controller-runtime,
// Prometheus, Stowage's policy packages, the audit packages, package webhook (for the
// cache-backed cluster view and policy compilation) and internal/enqueue.
package controllers
