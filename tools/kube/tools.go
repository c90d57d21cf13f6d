//go:build tools

// Package kube exists only to pin the control-plane commands that the e2e
// harness builds: `make bin/kube-apiserver` and friends run `go build` on them
// from this module.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
