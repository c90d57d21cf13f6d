// Command gen regenerates Stowage's install: the PlacementPolicy CRD in manifests/chart/crds
// (with controller-gen), the chart's webhook rules for operator resources (from
// internal/operatorcr's table) and manifests/install.yaml (with helm). Run it from the module root,
// after `make tools`:
//
//	go run ./manifests/gen
//
// $STOWAGE_HELM and $STOWAGE_CONTROLLER_GEN override the paths of the two tools.
//
// It may import the standard library and manifests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/manifests"
)

func main() {
	root := flag.String("root", ".", "the module's root folder")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := generate(ctx, manifests.Paths{Root: *root})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(ctx context.Context, p manifests.Paths) error {
	controllerGen, err := p.ControllerGen()
	if err != nil {
		return err
	}
	helm, err := p.Helm()
	if err != nil {
		return err
	}
	// The CRD first: install.yaml includes it.
	if err := manifests.ReplaceCRDs(ctx, controllerGen, p.Root, p.CRDs()); err != nil {
		return err
	}
	if err := os.WriteFile(p.OperatorRulesFile(), manifests.OperatorRules(OperatorResources()), 0o644); err != nil {
		return err
	}
	out, err := manifests.InstallYAML(ctx, helm, p.Chart())
	if err != nil {
		return err
	}
	return os.WriteFile(p.InstallYAML(), out, 0o644)
}

// OperatorResources lists the resources of internal/operatorcr's table, in its order.
func OperatorResources() []manifests.OperatorResource {
	out := make([]manifests.OperatorResource, 0, len(operatorcr.Kinds))
	for i := range operatorcr.Kinds {
		k := &operatorcr.Kinds[i]
		out = append(out, manifests.OperatorResource{Group: k.Group, Versions: k.Versions, Resource: k.Resource()})
	}
	return out
}
