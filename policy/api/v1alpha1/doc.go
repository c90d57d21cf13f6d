// Package v1alpha1 holds the PlacementPolicy API (stowage.dev/v1alpha1): the Go types that the
// CRD is generated from, their defaults and their validation.
//
// A policy is always defaulted (SetDefaults) and then validated (Validate) before the engine in
// package policy sees it; the webhook, `stowage check` and `stowage audit` all do the same.
//
// It may import the standard library, k8s.io/api and k8s.io/apimachinery only.
//
// +kubebuilder:object:generate=true
// +groupName=stowage.dev
package v1alpha1
