//go:build tools

// Package etcd exists only to pin the etcd server that `make bin/etcd` builds.
package etcd

import _ "go.etcd.io/etcd/server/v3"
