//go:build !checkonly

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/audit/publish"
	"github.com/stowage-dev/stowage/audit/render"
	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func init() { extraCommands = append(extraCommands, newAuditCommand) }

type auditFlags struct {
	scope             scopeFlags
	output            string
	failOn            string
	policyReport      bool
	installCRD        bool
	policyFiles       []string
	notReadyThreshold time.Duration
}

func newAuditCommand() *cobra.Command {
	var o auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Report where a live cluster's stateful replicas and their local volumes really are",
		Long: `Audit lists a live cluster's StatefulSets, pods, claims, volumes, nodes, budgets and StorageClasses
(in pages of 500) and reports, per StatefulSet: the policy engine's violations (the same as the
webhook's and check's), co-located replicas, volumes pinned together or away from their pods,
replicas stranded on dead, NotReady or cordoned nodes, missing, conflicting or too-loose budgets,
capacity, and what each node's failure would cost. Operator resources that become StatefulSets
(Prometheus, Alertmanager, ...) are judged at their own fields; pods an operator makes without a
StatefulSet (a StrimziPodSet's) are checked for co-location and stranded volumes.

It uses the cluster's PlacementPolicies, or the embedded default policy where none exist, unless
--policy is given.

Exit codes: 0 no findings at or above --fail-on; 1 findings at or above it; 2 errors.`,
		Example: `  stowage audit
  stowage audit -n databases -o json > audit.json
  stowage audit -o html > audit.html
  stowage audit --policy-report --fail-on warning`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAudit(cmd, &o) },
	}
	f := cmd.Flags()
	o.scope.add(f, "")
	f.StringVarP(&o.output, "output", "o", render.FormatTable, "report format: "+strings.Join(render.Formats(), ", "))
	f.StringVar(&o.failOn, "fail-on", "error", "exit 1 on findings at or above this severity: error, warning, info or none")
	f.BoolVar(&o.policyReport, "policy-report", false, "also write wgpolicyk8s.io/v1alpha2 PolicyReports, one per namespace")
	f.BoolVar(&o.installCRD, "install-policy-report-crd", false, "with --policy-report, install the PolicyReport CRD if the cluster lacks it")
	f.StringArrayVar(&o.policyFiles, "policy", nil, "PlacementPolicy file (repeatable) to judge by instead of the cluster's policies")
	f.DurationVar(&o.notReadyThreshold, "not-ready-threshold", 5*time.Minute, "how long a node may be NotReady before its volumes count as stranded")
	return cmd
}

func runAudit(cmd *cobra.Command, o *auditFlags) error {
	if err := o.scope.validate(cmd); err != nil {
		return err
	}
	if !slices.ContainsFunc(render.Formats(), func(f string) bool { return strings.EqualFold(f, o.output) }) && o.output != "md" {
		return usageError(cmd, fmt.Sprintf("unknown output %q: use one of %s", o.output, strings.Join(render.Formats(), ", ")))
	}
	failOn, err := audit.ParseSeverity(o.failOn)
	if err != nil {
		return usageError(cmd, err.Error())
	}
	var fixed []*v1alpha1.PlacementPolicy
	for _, f := range o.policyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading the policy: %w", err)
		}
		ps, errs := policyfile.Load(f, data)
		if len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return exitError{audit.ExitError}
		}
		fixed = append(fixed, ps...)
	}

	ctx := cmd.Context()
	snap, dyn, err := o.scope.collect(ctx)
	if err != nil {
		return err
	}
	var set *policy.Set
	if len(fixed) > 0 {
		set = policy.NewSet(fixed...)
	} else {
		var errs []error
		set, errs = audit.PolicySet(snap.PlacementPolicies)
		for _, e := range errs {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning:", e)
		}
	}
	report := audit.Analyze(snap, set, audit.Options{Now: time.Now().UTC(), NotReadyThreshold: o.notReadyThreshold})
	if err := render.Write(cmd.OutOrStdout(), report, o.output); err != nil {
		return err
	}
	if o.policyReport {
		res, err := publish.PolicyReports(ctx, dyn, report.PolicyReports(), publish.Options{Namespace: o.scope.namespace, InstallCRD: o.installCRD})
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
			return exitError{audit.ExitError}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "PolicyReports: %d created, %d updated, %d unchanged, %d deleted as stale, %d skipped (not Stowage's)\n",
			len(res.Created), len(res.Updated), len(res.Unchanged), len(res.Deleted), len(res.Skipped))
	}
	if code := report.ExitCode(failOn); code != 0 {
		return exitError{code}
	}
	return nil
}
