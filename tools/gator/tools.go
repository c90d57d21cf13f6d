//go:build tools

// Package gator exists only to pin Gatekeeper's gator CLI, a peer that `make bench-check` times
// `stowage check` against; it builds the command from this module.
package gator

import _ "github.com/open-policy-agent/gatekeeper/v3/cmd/gator"
