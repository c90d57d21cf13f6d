//go:build tools

// Package kubescore exists only to pin kube-score, a peer that `make bench-check` times
// `stowage check` against; it builds the command from this module.
package kubescore

import _ "github.com/zegl/kube-score/cmd/kube-score"
