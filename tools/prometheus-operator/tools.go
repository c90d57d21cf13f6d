//go:build tools

// Package prometheusoperator exists only to pin the prometheus-operator command that the
// operator e2e runs. prometheus-operator's own go.mod has local replace directives for its
// pkg/apis/monitoring and pkg/client modules, so `go install …@version` refuses it; this
// module requires the three at the same version and `make` builds cmd/operator from here.
package prometheusoperator

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/client/versioned"
)
