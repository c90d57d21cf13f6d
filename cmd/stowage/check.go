package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/check"
	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func newCheckCommand() *cobra.Command {
	var (
		policyFiles []string
		nodesFile   string
		opts        check.Options
	)
	cmd := &cobra.Command{
		Use:   "check [flags] PATH|- ...",
		Short: "Check manifests offline against the placement policy",
		Long: `Check evaluates every StatefulSet and PersistentVolumeClaim in the given files, directories
(recursively: .yaml, .yml, .json) or standard input ("-") exactly as the admission webhook would on
CREATE, and reports violations, the patch it would apply and the PodDisruptionBudgets it would create.

Every input is read exactly once, so pipes, FIFOs and process substitutions such as
<(helm template ...) work. An input without objects is a warning (an error with --fail-on-empty).
Objects that name no namespace are checked in the one given with -n or, without it, in the one
that the other objects of the input agree on.

Exit codes: 0 no error-severity violations (mutations alone are fine); 1 violations, or needed
changes with --fail-on-change; 2 unreadable input, an invalid policy or bad usage.`,
		Example: `  helm template my-db bitnami/mariadb-galera | stowage check -
  stowage check --diff ./manifests
  stowage check --fix deploy.yaml > fixed.yaml
  stowage check -o sarif --policy policy.yaml ./charts-rendered > stowage.sarif`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "give at least one file, directory or - for standard input")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getenv("GOGC") == "" {
				// A check is short-lived and streams its input, so its live heap stays small:
				// a check of a few charts then needs no collection at all (a sixth of its CPU
				// at GOGC=200), and check.Run lowers the target for a larger input.
				debug.SetGCPercent(400)
			}
			if !slices.Contains(check.Formats, opts.Output) {
				return usageError(cmd, fmt.Sprintf("unknown output %q: use one of %s", opts.Output, strings.Join(check.Formats, ", ")))
			}
			var policies []*v1alpha1.PlacementPolicy
			if len(policyFiles) == 0 {
				policies = []*v1alpha1.PlacementPolicy{policyfile.Default()}
			}
			for _, f := range policyFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					opts.SetupErrors = append(opts.SetupErrors, check.InputError{Source: f, Message: "cannot read the policy: " + err.Error()})
					continue
				}
				ps, errs := policyfile.Load(f, data)
				policies = append(policies, ps...)
				opts.SetupErrors = append(opts.SetupErrors, inputErrors(f, errs)...)
				if len(ps) == 0 && len(errs) == 0 {
					opts.SetupErrors = append(opts.SetupErrors, check.InputError{Source: f, Message: "holds no PlacementPolicy"})
				}
			}
			opts.Policies = policy.NewSet(policies...)
			if nodesFile != "" {
				nodes, errs := loadNodes(nodesFile)
				opts.Nodes, opts.NodesKnown = nodes, len(errs) == 0
				opts.SetupErrors = append(opts.SetupErrors, errs...)
			}
			opts.Version = version
			opts.Stdin, opts.Stdout, opts.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			code, err := check.Run(cmd.Context(), opts, args)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&policyFiles, "policy", nil, "PlacementPolicy file (repeatable); the embedded default policy is used when none is given")
	f.StringVar(&nodesFile, "nodes", "", "nodes as printed by `kubectl get nodes -o yaml`, to turn on the node-aware checks")
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace assumed for objects that name none")
	f.StringVarP(&opts.Output, "output", "o", check.OutputText, "report format: "+strings.Join(check.Formats, ", "))
	f.BoolVar(&opts.Diff, "diff", false, "print a unified diff per changed object")
	f.BoolVar(&opts.Fix, "fix", false, "write the whole fixed stream to stdout (the report goes to stderr)")
	f.BoolVar(&opts.FailOnChange, "fail-on-change", false, "exit 1 when any object would be changed or generated")
	f.BoolVar(&opts.FailOnEmpty, "fail-on-empty", false, "exit 2 when an input holds no objects (an empty pipe from a failed `helm template`), rather than warn")
	return cmd
}

// loadNodes reads Nodes (or a List of them) from a file.
func loadNodes(path string) ([]*corev1.Node, []check.InputError) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []check.InputError{{Source: path, Message: "cannot read the nodes: " + err.Error()}}
	}
	var nodes []*corev1.Node
	var errs []check.InputError
	read := stream.Read(path, data, func(d *stream.Document) error {
		if d.Kind != "Node" || d.APIVersion != "v1" {
			errs = append(errs, check.InputError{Source: path, Line: d.Line, Message: fmt.Sprintf("expected v1 Node objects (kubectl get nodes -o yaml), got %s %s", d.APIVersion, d.Kind)})
			return nil
		}
		n := &corev1.Node{}
		fieldErrs, err := stream.Decode(d, n)
		if err != nil {
			errs = append(errs, check.InputError{Source: path, Line: d.Line, Message: "node " + d.Name + ": " + err.Error()})
			return nil
		}
		for _, fe := range fieldErrs {
			errs = append(errs, check.InputError{Source: path, Line: fe.Line, Message: "node " + d.Name + ": " + fe.Message})
		}
		nodes = append(nodes, n)
		return nil
	})
	errs = append(inputErrors(path, read), errs...)
	return nodes, errs
}

func inputErrors(source string, errs []error) []check.InputError {
	var out []check.InputError
	for _, e := range errs {
		if se, ok := e.(*stream.Error); ok {
			out = append(out, check.InputError{Source: se.Source, Line: se.Line, Message: se.Message})
		} else {
			out = append(out, check.InputError{Source: source, Message: e.Error()})
		}
	}
	return out
}

func usageError(cmd *cobra.Command, msg string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "error: %s\n\n%s", msg, cmd.UsageString())
	return exitError{check.ExitInputError}
}
