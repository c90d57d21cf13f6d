//go:build tools

// Package kyverno exists only to pin the kyverno CLI, a peer that `make bench-check` times
// `stowage check` against; it builds the command from this module.
package kyverno

import _ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
