//go:build !checkonly

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/audit"
	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
	"github.com/stowage-dev/stowage/recovery"
)

func init() { extraCommands = append(extraCommands, newRecoverCommand) }

type recoverFlags struct {
	scope   scopeFlags
	plan    bool
	output  string
	yes     bool
	timeout time.Duration
}

func newRecoverCommand() *cobra.Command {
	var o recoverFlags
	cmd := &cobra.Command{
		Use:   "recover --plan | recover NAMESPACE/STATEFULSET ORDINAL",
		Short: "Plan or carry out the recovery of replicas stranded on gone nodes, within every guard",
		Long: `With --plan, recover lists every replica whose local volume is pinned to a gone node (deleted,
tainted node.kubernetes.io/out-of-service, or NotReady past the policy's nodeNotReadyAfter) and
what Stowage would do: start its recovery, or which guard blocks it (QuorumLost, OneAtATime,
ClusterCap, AwaitingApproval, RecoveryOff, PodNotUnschedulable, Uncertain).

With NAMESPACE/STATEFULSET ORDINAL it recovers that replica now, whatever the policy's mode, and
still within every guard: it keeps the old volume (Retain, annotated), deletes the claim, waits
until it is gone, deletes the Pending pod and waits until the new one is Ready. It asks first
unless --yes is given.

Exit codes: 0 done (or planned); 1 a guard refused; 2 errors.`,
		Example: `  stowage recover --plan
  stowage recover --plan -n databases -o json
  stowage recover databases/galera 1`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.plan {
				if len(args) > 0 {
					return usageError(cmd, "--plan takes no arguments")
				}
				return runRecoverPlan(cmd, &o)
			}
			if len(args) != 2 {
				return usageError(cmd, "give NAMESPACE/STATEFULSET ORDINAL, or --plan")
			}
			return runRecoverOne(cmd, &o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	o.scope.add(f, "with --plan, ")
	f.BoolVar(&o.plan, "plan", false, "list what would be recovered and what blocks it; change nothing")
	f.StringVarP(&o.output, "output", "o", "table", "with --plan: table or json")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for the replica to be Ready on its new node")
	return cmd
}

// PlanEntry is one StatefulSet with stranded replicas in `recover --plan -o json`.
type PlanEntry struct {
	Namespace   string                   `json:"namespace"`
	StatefulSet string                   `json:"statefulSet"`
	Policy      string                   `json:"policy"`
	Mode        v1alpha1.RecoveryMode    `json:"mode"`
	Action      policy.RecoveryAction    `json:"action"`
	Message     string                   `json:"message"`
	Replicas    []policy.ReplicaRecovery `json:"replicas"`
}

func runRecoverPlan(cmd *cobra.Command, o *recoverFlags) error {
	if err := o.scope.validate(cmd); err != nil {
		return err
	}
	if o.output != "table" && o.output != "json" {
		return usageError(cmd, fmt.Sprintf("unknown output %q: use table or json", o.output))
	}
	snap, _, err := o.scope.collect(cmd.Context())
	if err != nil {
		return err
	}
	set, errs := audit.PolicySet(snap.PlacementPolicies)
	for _, e := range errs {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", e)
	}
	entries := PlanRecoveries(snap, set, time.Now())
	return writePlan(cmd.OutOrStdout(), o.output, entries)
}

// PlanRecoveries decides, for every StatefulSet of the snapshot, what recovery would do now.
func PlanRecoveries(snap *audit.Snapshot, set *policy.Set, now time.Time) []PlanEntry {
	nsLabels := map[string]map[string]string{}
	for _, n := range snap.Namespaces {
		nsLabels[n.Name] = policy.NamespaceLabelsOf(n)
	}
	inFlight := 0
	for _, s := range snap.StatefulSets {
		if _, ok := s.Annotations[policy.RecoveryAnnotation]; ok {
			inFlight++
		}
	}
	var out []PlanEntry
	for _, sts := range snap.StatefulSets {
		f := policy.RecoveryFacts{StatefulSet: sts, Pods: snap.Pods, Claims: snap.PVCs, Volumes: snap.PVs, Nodes: snap.Nodes, Now: metav1.NewTime(now), InFlight: inFlight}
		e := PlanEntry{Namespace: sts.Namespace, StatefulSet: sts.Name, Mode: v1alpha1.RecoveryOff}
		if p := set.RecoveryPolicy(sts, nsLabels[sts.Namespace]); p != nil {
			f.Spec, e.Policy, e.Mode = p.Spec.Recovery, p.Name, p.Spec.Recovery.Mode
		}
		if _, ok := sts.Annotations[policy.RecoveryAnnotation]; ok {
			f.InFlight--
		}
		d := policy.DecideRecovery(f)
		if len(d.Replicas) == 0 && d.Action == policy.RecoveryNone {
			continue
		}
		e.Action, e.Message, e.Replicas = d.Action, d.Message, d.Replicas
		out = append(out, e)
	}
	return out
}

func writePlan(w io.Writer, format string, entries []PlanEntry) error {
	if format == "json" {
		if entries == nil {
			entries = []PlanEntry{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"recoveries": entries})
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "No stranded replicas.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSTATEFULSET\tORDINAL\tNODE\tGONE\tMODE\tSTATE\tGUARD\tMESSAGE")
	for _, e := range entries {
		for _, r := range e.Replicas {
			guard := string(r.Guard)
			if guard == "" {
				guard = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Namespace, e.StatefulSet, r.Ordinal, r.Node, r.Reason, e.Mode, r.State, guard, r.Message)
		}
		if len(e.Replicas) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t%s\t-\t%s\n", e.Namespace, e.StatefulSet, e.Mode, e.Action, e.Message)
		}
	}
	return tw.Flush()
}

func runRecoverOne(cmd *cobra.Command, o *recoverFlags, target, ordinal string) error {
	ns, name, ok := strings.Cut(target, "/")
	if !ok || ns == "" || name == "" {
		return usageError(cmd, fmt.Sprintf("%q: give NAMESPACE/STATEFULSET", target))
	}
	ord, err := strconv.ParseInt(ordinal, 10, 32)
	if err != nil || ord < 0 {
		return usageError(cmd, fmt.Sprintf("%q: the ordinal is a replica number, such as 1", ordinal))
	}
	cfg, err := o.scope.kube.config()
	if err != nil {
		return err
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	r := &recovery.Reconciler{Client: c, APIReader: c, Policy: manualPolicy(c)}
	ctx := cmd.Context()
	key := types.NamespacedName{Namespace: ns, Name: name}
	out := cmd.OutOrStdout()

	d, err := r.Plan(ctx, key, int32(ord))
	if err != nil {
		return err
	}
	inFlight := d.Record != nil && d.Action != policy.RecoveryBegin
	switch {
	case inFlight && d.Record.Ordinal != int32(ord):
		fmt.Fprintf(cmd.ErrOrStderr(), "replica %d of %s is recovering; one at a time\n", d.Record.Ordinal, target)
		return exitError{1}
	case !inFlight && (d.Action != policy.RecoveryBegin || d.Ordinal != int32(ord)):
		for _, rep := range d.Replicas {
			if rep.Ordinal == int32(ord) {
				fmt.Fprintf(cmd.ErrOrStderr(), "replica %d of %s is not recovered: %s: %s\n", ord, target, rep.Guard, rep.Message)
				return exitError{1}
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "replica %d of %s is not stranded: its volumes are not pinned to a gone node\n", ord, target)
		return exitError{1}
	}
	if !inFlight && !o.yes {
		var claims, volumes []string
		for _, rc := range d.Record.Claims {
			claims, volumes = append(claims, rc.Name), append(volumes, rc.Volume)
		}
		fmt.Fprintf(out, "Replica %d of %s: its volume is pinned to node %s, which is %s.\n", ord, target, d.Record.Node, d.Record.Reason)
		fmt.Fprintf(out, "Recovering keeps volume %s (reclaim policy Retain), deletes claim %s and pod %s;\nthe replica restarts empty on a live node and re-syncs from the others. Continue? [y/N] ",
			strings.Join(volumes, ", "), strings.Join(claims, ", "), d.Record.Pod)
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(out, "Nothing done.")
			return exitError{1}
		}
	}
	if !inFlight {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, policy.RecoveryApproveAnnotation, strconv.Itoa(int(ord)))
		if err := c.Patch(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return fmt.Errorf("approving replica %d: %w", ord, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	last := ""
	failures := 0
	for {
		d, err := r.Step(ctx, key)
		switch {
		case err != nil && ctx.Err() == nil && failures < 5:
			failures++ // a conflict with the controller doing the same step: decide again
		case err != nil:
			return err
		case d == nil:
			return fmt.Errorf("StatefulSet %s is gone", target)
		default:
			failures = 0
			if line := fmt.Sprintf("%s: %s", d.Action, d.Message); line != last && d.Message != "" {
				fmt.Fprintln(out, line)
				last = line
			}
			switch d.Action {
			case policy.RecoveryFinish:
				return nil
			case policy.RecoveryAbort:
				return exitError{1}
			case policy.RecoveryNone:
				if d.Guard != "" {
					return exitError{1}
				}
				// No recovery in flight and the replica no longer stranded: another actor (the
				// controller, in Manual mode with the approval) finished it.
				var pod corev1.Pod
				if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, ord)}, &pod); err == nil && pod.DeletionTimestamp == nil && policy.PodReady(&pod) {
					fmt.Fprintf(out, "Finish: replica %d is Ready on node %s\n", ord, pod.Spec.NodeName)
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %d of %s not Ready on a new node within %s; the recovery goes on with the controller or another `stowage recover`", ord, target, o.timeout)
		case <-time.After(2 * time.Second):
		}
	}
}

// manualPolicy selects the StatefulSet's policy from the cluster (or the embedded default) and
// recovers in Manual mode, so the approval annotation the command sets is what starts it.
func manualPolicy(c client.Client) recovery.PolicyFor {
	return func(ctx context.Context, sts *appsv1.StatefulSet) (*v1alpha1.PlacementPolicy, error) {
		var list v1alpha1.PlacementPolicyList
		if err := c.List(ctx, &list); err != nil {
			return nil, err
		}
		set := policy.Compile(list.Items, nil)
		if set.Len() == 0 {
			set = policy.NewSet(policyfile.Default())
		}
		labels := policy.NamespaceLabels(sts.Namespace)
		var n corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: sts.Namespace}, &n); err == nil {
			labels = policy.NamespaceLabelsOf(&n)
		}
		p := set.Select(sts.Labels, labels)
		if p == nil {
			p = policyfile.Default()
		}
		p = p.DeepCopy()
		p.Spec.Recovery.Mode = v1alpha1.RecoveryManual
		return p, nil
	}
}
