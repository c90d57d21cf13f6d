// Package policy is Stowage's placement engine. It is pure: a typed object, the operation, a
// PlacementPolicy and the cluster facts go in; the mutated copy, the JSON patch, the violations
// and the desired PodDisruptionBudget come out. The admission webhook, the budget controller,
// `stowage check` and `stowage audit` all call Set.Decide (which selects the policy and calls
// Evaluate), so all of them reach the same decision for the same object.
//
// It does no I/O, makes no client calls, does no logging and reads no clock. Cluster facts
// (nodes, PodDisruptionBudgets, the default StorageClass) are passed in by the caller.
//
// Every rule lives in its own rule_<name>.go file, which opens with the fields it reads and
// writes and why, and has a table-driven test in rule_<name>_test.go.
//
// It may import the standard library, k8s.io/api, k8s.io/apimachinery, k8s.io/utils,
// k8s.io/component-helpers (the scheduler's own node matching), github.com/go-logr/logr (only
// to hand component-helpers a discarding logger), gomodules.xyz/jsonpatch/v2 (for the patch
// type only) and its own api/v1alpha1 package. TestImports holds it to that.
package policy
