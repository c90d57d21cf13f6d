package audit

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Analyze audits every StatefulSet of the snapshot against what is really in the cluster, and
// against the policy that policies selects for it (nil means Stowage's default policy; an empty
// set means none, and each StatefulSet gets a NoPolicy finding).
//
// It is pure: no I/O, no clock (opts.Now is the time of the audit), no logging, and it never
// modifies the snapshot. Objects it cannot analyse are listed in Report.Problems.
func Analyze(snap *Snapshot, policies *policy.Set, opts Options) *Report {
	if snap == nil {
		snap = &Snapshot{}
	}
	if policies == nil {
		policies = policy.NewSet(policyfile.Default())
	}
	a := &analyzer{
		ix:        newIndex(snap, opts),
		policies:  policies,
		opts:      opts,
		impact:    map[*nodeInfo]*impactAcc{},
		instances: map[instanceKey]*instanceGroup{},
		snap:      snap,
		spans:     map[Ref]span{},
	}
	r := &Report{
		APIVersion:        APIVersion,
		Kind:              Kind,
		GeneratedAt:       opts.Now.UTC(),
		NotReadyThreshold: opts.threshold().String(),
	}
	a.report = r

	list := slices.DeleteFunc(slices.Clone(snap.StatefulSets), func(s *appsv1.StatefulSet) bool { return s == nil })
	for _, s := range list {
		if _, ok := s.Annotations[policy.RecoveryAnnotation]; ok {
			a.inFlight++
		}
	}
	var keep []*appsv1.StatefulSet
	for _, s := range dropTwice(a, list, func(s *appsv1.StatefulSet) Problem {
		return Problem{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name}
	}) {
		if s.Name == "" {
			a.problem("StatefulSet", s.Namespace, s.Name, "has no name")
			continue
		}
		keep = append(keep, s)
	}
	// The operator resources' projections go through the engine with the StatefulSets.
	crs := a.projectCustomResources(snap.CustomResources)
	all := slices.Clip(keep)
	for _, cr := range crs {
		for _, p := range cr.projs {
			all = append(all, p.StatefulSet)
		}
	}
	verdicts := a.evaluateAll(all)
	r.StatefulSets = make([]StatefulSetRow, 0, len(keep))
	for i, s := range keep {
		a.statefulSet(s, &verdicts[i])
	}
	a.customResources(crs, verdicts[len(keep):], keep, verdicts[:len(keep)])
	a.podSets()
	a.instanceFindings()
	a.finish()
	return r
}

type analyzer struct {
	ix       *index
	policies *policy.Set
	opts     Options
	report   *Report

	findings  []Finding
	impact    map[*nodeInfo]*impactAcc
	snap      *Snapshot
	inFlight  int // StatefulSets with a recovery in flight
	instances map[instanceKey]*instanceGroup
	// spans are the findings of each StatefulSet, as indexes into findings.
	spans map[Ref]span
}

// span is a range of findings, [first, end).
type span struct{ first, end int }

// impactAcc collects what one node's failure costs.
type impactAcc struct {
	pods, volumes int
	lose, quorum  []Ref
}

type instanceKey struct {
	namespace, instance string
	node                *nodeInfo
}

// instanceGroup is the pods of one application instance on one node, by StatefulSet.
type instanceGroup struct {
	members []instanceMember
}

type instanceMember struct {
	sts  string
	pods []string
}

// replica is a Replica under construction, with the links the checks need.
type replica struct {
	Replica
	pod      *corev1.Pod
	podNode  *nodeInfo
	volNodes []*nodeInfo
	inRange  bool
}

// touch counts a replica on a node for the node-loss impact.
type touch struct{ replicas, healthy int32 }

func (a *analyzer) problem(kind, ns, name, msg string) {
	a.report.Problems = append(a.report.Problems, Problem{Kind: kind, Namespace: ns, Name: name, Message: msg})
}

// dropTwice sorts the objects of a snapshot by namespace, kind and name (id gives them, without
// a message), stably, and keeps the first of each; the copies after it are problems.
func dropTwice[T any](a *analyzer, list []T, id func(T) Problem) []T {
	slices.SortStableFunc(list, func(x, y T) int {
		p, q := id(x), id(y)
		return cmp.Or(cmp.Compare(p.Namespace, q.Namespace), cmp.Compare(p.Kind, q.Kind), cmp.Compare(p.Name, q.Name))
	})
	keep := list[:0]
	for i, x := range list {
		if p := id(x); i > 0 && id(list[i-1]) == p {
			a.problem(p.Kind, p.Namespace, p.Name, "listed twice in the snapshot; the second copy was ignored")
			continue
		}
		keep = append(keep, x)
	}
	return keep
}

// entry returns m[k], first adding a new zero value when there is none.
func entry[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}

// quorum is the engine's majority quorum of n replicas, policy.Quorum, and 0 for none.
func quorum(n int32) int32 {
	if n <= 0 {
		return 0
	}
	return policy.Quorum(n, nil)
}

func (a *analyzer) statefulSet(sts *appsv1.StatefulSet, v *verdict) {
	ix := a.ix
	n := int32(1)
	if sts.Spec.Replicas != nil {
		n = max(*sts.Spec.Replicas, 0)
	}
	start := int32(0)
	if sts.Spec.Ordinals != nil {
		start = sts.Spec.Ordinals.Start
	}
	q := quorum(n)
	row := StatefulSetRow{
		Namespace: sts.Namespace, Name: sts.Name, UID: string(sts.UID),
		DesiredReplicas: n, Quorum: q,
	}
	ref := Ref{sts.Namespace, sts.Name}
	first := len(a.findings)
	add := func(f Finding) {
		f.Namespace, f.StatefulSet = sts.Namespace, sts.Name
		if f.Source == "" {
			f.Source = SourceAudit
		}
		a.findings = append(a.findings, f)
	}

	reps := a.replicas(sts, n, start)
	nsLabels := ix.namespaceLabels(sts.Namespace)

	// Pods and volumes per node, for the node-loss impact and the instances.
	for _, r := range reps {
		if r.podNode != nil {
			entry(a.impact, r.podNode).pods++
			if inst := r.pod.Labels[InstanceLabel]; inst != "" {
				a.instanceMember(instanceKey{sts.Namespace, inst, r.podNode}, sts.Name, r.Pod)
			}
		}
		for _, v := range r.Volumes {
			if v.Node != "" {
				entry(a.impact, ix.node(v.Node)).volumes++
			}
		}
	}
	row.Nodes = a.checkPlacement(add, reps)
	if v.exempt {
		a.recoveryStates(sts, nil, reps) // opted out: recovery is off for it
	} else {
		a.recoveryStates(sts, v.policy, reps)
	}

	// Counts.
	var healthy int32
	for _, r := range reps {
		if r.Ready {
			row.ReadyReplicas++
		}
		if r.Healthy {
			healthy++
		}
		if r.Colocated {
			row.ColocatedReplicas++
		}
		if r.Stranded {
			row.StrandedReplicas++
		}
		if r.inRange && len(sts.Spec.VolumeClaimTemplates) > 0 {
			row.VolumeReplicas++
			if len(r.volNodes) > 0 {
				row.PinnedReplicas++
			}
		}
	}
	row.HealthyReplicas = healthy

	a.checkQuorum(add, &row, ref, reps, healthy)

	row.PDB = checkBudgets(add, v, n)

	row.HardAntiAffinity = policy.HostnameAntiAffinity(sts, nsLabels)
	row.EligibleNodes = ix.eligibleHosts(&sts.Spec.Template.Spec)

	// Spec compliance, from the engine (see evaluate.go).
	switch {
	case v.policy == nil:
		add(Finding{ID: NoPolicy, Severity: SeverityInfo,
			Message: "no PlacementPolicy selects this statefulset, so its spec was not checked; " +
				"widen a policy's namespaceSelector or objectSelector to cover it"})
	case v.err != nil:
		row.Policy = v.policy.Name
		a.problem("StatefulSet", sts.Namespace, sts.Name, "the policy engine could not evaluate it: "+v.err.Error())
	default:
		row.Policy, row.Exempt = v.policy.Name, v.exempt
		if v.exempt {
			add(Finding{ID: PolicyExempt, Severity: SeverityInfo, Policy: v.policy.Name,
				Message: fmt.Sprintf("opted out of policy %s with the stowage.dev/opt-out annotation, so its spec was not "+
					"checked; the placement checks still ran", v.policy.Name)})
		}
		row.Violations = len(v.violations)
		for _, vi := range v.violations {
			addViolation(add, v.policy.Name, vi)
		}
	}
	a.spans[ref] = span{first, len(a.findings)}
	a.report.StatefulSets = append(a.report.StatefulSets, row)
	// Replicas are attached last: the checks above set their flags.
	last := &a.report.StatefulSets[len(a.report.StatefulSets)-1]
	last.Replicas = make([]Replica, len(reps))
	for i, r := range reps {
		last.Replicas[i] = r.Replica
	}
}

// replicas builds every desired ordinal, plus any ordinal outside the range that a pod exists
// for (a scale-down in progress), in ordinal order.
func (a *analyzer) replicas(sts *appsv1.StatefulSet, n, start int32) []*replica {
	ix := a.ix
	byOrdinal := map[int32]*corev1.Pod{}
	for _, p := range ix.podsOf(sts) {
		if o, ok := ordinalOf(p.Name, sts.Name); ok {
			byOrdinal[o] = p
		}
	}
	ordinals := make([]int32, 0, int(n)+len(byOrdinal))
	for o := start; o < start+n; o++ {
		ordinals = append(ordinals, o)
	}
	for o := range byOrdinal {
		if o < start || o >= start+n {
			ordinals = append(ordinals, o)
		}
	}
	slices.Sort(ordinals)

	reps := make([]*replica, 0, len(ordinals))
	for _, o := range ordinals {
		r := &replica{Replica: Replica{Ordinal: o}, inRange: o >= start && o < start+n}
		if p := byOrdinal[o]; p != nil {
			a.setPod(r, p)
		}
		ord := strconv.Itoa(int(o))
		for i := range sts.Spec.VolumeClaimTemplates {
			t := &sts.Spec.VolumeClaimTemplates[i]
			a.addVolume(r, sts.Namespace, t.Name, t.Name+"-"+sts.Name+"-"+ord)
		}
		reps = append(reps, r)
	}
	return reps
}

// setPod fills in a replica's pod: its phase, readiness, node and health.
func (a *analyzer) setPod(r *replica, p *corev1.Pod) {
	r.pod = p
	r.Pod, r.Phase, r.Ready = p.Name, string(p.Status.Phase), policy.PodReady(p)
	terminal := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	if p.Spec.NodeName != "" && !terminal {
		r.podNode = a.ix.node(p.Spec.NodeName)
		r.Node, r.NodeState = r.podNode.name, r.podNode.state
	}
	r.Unscheduled = p.Spec.NodeName == "" && (p.Status.Phase == corev1.PodPending || p.Status.Phase == "")
	r.Healthy = r.Ready && r.podNode != nil && p.DeletionTimestamp == nil &&
		(r.podNode.state == NodeReady || r.podNode.state == NodeCordoned)
}

// addVolume adds one claim of a replica: its class, its volume and the node it is pinned to.
func (a *analyzer) addVolume(r *replica, namespace, template, claim string) {
	ix := a.ix
	v := Volume{Template: template, Claim: claim}
	c := ix.pvcs[nsName{namespace, claim}]
	if c == nil {
		v.Missing = true
		r.Volumes = append(r.Volumes, v)
		return
	}
	v.Class = claimClass(c)
	if pv := ix.volumeOf(c); pv != nil {
		v.Volume = pv.Name
		if v.Class == "" {
			v.Class = pv.Spec.StorageClassName
		}
		if ni := ix.pinnedNode(pv); ni != nil {
			v.Node, v.NodeState = ni.name, ni.state
			if !slices.Contains(r.volNodes, ni) {
				r.volNodes = append(r.volNodes, ni)
			}
		}
	}
	r.Volumes = append(r.Volumes, v)
}

// ordinalOf parses <sts>-<ordinal>.
func ordinalOf(pod, sts string) (int32, bool) {
	rest, ok := strings.CutPrefix(pod, sts+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	o, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || o < 0 {
		return 0, false
	}
	return int32(o), true
}

// claimClass returns the class a claim names: spec.storageClassName, else the legacy annotation.
func claimClass(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	return c.Annotations[betaStorageClassAnnotation]
}

func sortedNodes[V any](m map[*nodeInfo]V) []*nodeInfo {
	return slices.SortedFunc(maps.Keys(m), func(x, y *nodeInfo) int { return cmp.Compare(x.name, y.name) })
}

func (a *analyzer) instanceMember(k instanceKey, sts, pod string) {
	g := entry(a.instances, k)
	if l := len(g.members); l > 0 && g.members[l-1].sts == sts {
		g.members[l-1].pods = append(g.members[l-1].pods, pod)
		return
	}
	g.members = append(g.members, instanceMember{sts: sts, pods: []string{pod}})
}

// addViolation records one of the engine's violations as a policy finding.
func addViolation(add func(Finding), policyName string, v policy.Violation) {
	path := ""
	if v.Field != nil {
		path = v.Field.String()
	}
	add(Finding{ID: FindingID(v.Rule), Severity: Severity(v.Severity), Source: SourcePolicy, Field: path,
		Policy: policyName, Rule: string(v.Rule), PDBs: v.Budgets, Message: v.Message})
}

// instanceFindings reports application instances whose StatefulSets share a node.
func (a *analyzer) instanceFindings() {
	for k, g := range a.instances {
		if len(g.members) < 2 {
			continue
		}
		for i, m := range g.members {
			others := make([]string, 0, len(g.members)-1)
			for j, o := range g.members {
				if j != i {
					others = append(others, o.sts)
				}
			}
			pods := slices.Clone(m.pods)
			slices.Sort(pods)
			a.findings = append(a.findings, Finding{
				ID: InstanceSharesNode, Severity: SeverityWarning, Source: SourceAudit,
				Namespace: k.namespace, StatefulSet: m.sts, Node: k.node.name, Pods: pods,
				Message: fmt.Sprintf("pods of statefulset %s, part of the same application instance %q, also run on node %s, "+
					"so losing that node takes down several parts of one instance at once; add pod anti-affinity on "+
					"kubernetes.io/hostname over the %s label across these statefulsets",
					strings.Join(others, ", "), k.instance, k.node.name, InstanceLabel),
			})
		}
	}
}

// finish sorts, counts and fills the summary and the node list.
func (a *analyzer) finish() {
	r := a.report
	slices.SortFunc(a.findings, func(x, y Finding) int { return compareFindings(&x, &y) })
	r.Findings = nonNil(a.findings)
	rows := make(map[Ref]*StatefulSetRow, len(r.StatefulSets))
	for i := range r.StatefulSets {
		rows[Ref{r.StatefulSets[i].Namespace, r.StatefulSets[i].Name}] = &r.StatefulSets[i]
	}
	type resourceKey struct {
		namespace string
		ref       ResourceRef
	}
	crRows := make(map[resourceKey]*CustomResourceRow, len(r.CustomResources))
	for i := range r.CustomResources {
		c := &r.CustomResources[i]
		crRows[resourceKey{c.Namespace, ResourceRef{c.APIVersion, c.Kind, c.Name}}] = c
	}
	setRows := make(map[resourceKey]*PodSetRow, len(r.PodSets))
	for i := range r.PodSets {
		p := &r.PodSets[i]
		setRows[resourceKey{p.Namespace, ResourceRef{p.APIVersion, p.Kind, p.Name}}] = p
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Resource != nil {
			k := resourceKey{f.Namespace, *f.Resource}
			if c := crRows[k]; c != nil {
				c.Findings++
				c.WorstSeverity = worse(c.WorstSeverity, f.Severity)
			} else if p := setRows[k]; p != nil {
				p.Findings++
				p.WorstSeverity = worse(p.WorstSeverity, f.Severity)
			}
		}
		switch f.Severity {
		case SeverityError:
			r.Summary.Findings.Error++
		case SeverityWarning:
			r.Summary.Findings.Warning++
		default:
			r.Summary.Findings.Info++
		}
		if row := rows[Ref{f.Namespace, f.StatefulSet}]; row != nil {
			row.Findings++
			row.WorstSeverity = worse(row.WorstSeverity, f.Severity)
		}
	}
	for i := range r.StatefulSets {
		s := &r.StatefulSets[i]
		r.Summary.ColocatedReplicas += s.ColocatedReplicas
		r.Summary.StrandedReplicas += s.StrandedReplicas
		if s.PDB.Status == PDBNone {
			r.Summary.WithoutPDB++
		}
		if s.LosesQuorumOnNodeFailure {
			r.Summary.LoseQuorumOnNodeFailure++
		}
	}
	r.Summary.StatefulSets = len(r.StatefulSets)
	r.Summary.CustomResources = len(r.CustomResources)
	r.Summary.PodSets = len(r.PodSets)
	r.CustomResources, r.PodSets = nonNil(r.CustomResources), nonNil(r.PodSets)
	r.Skipped = nonNil(slices.Clone(a.snap.Skipped))
	slices.SortFunc(r.Skipped, func(x, y Skipped) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Reason, y.Reason))
	})
	r.Skipped = slices.Compact(r.Skipped)
	r.Summary.Nodes = len(a.ix.nodeList)

	// Every node, and every missing node something refers to; their names are distinct.
	all := slices.AppendSeq(slices.Collect(maps.Values(a.ix.nodes)), maps.Values(a.ix.missing))
	slices.SortFunc(all, func(x, y *nodeInfo) int { return cmp.Compare(x.name, y.name) })
	r.Nodes = make([]NodeImpact, 0, len(all))
	for _, ni := range all {
		imp := NodeImpact{Node: ni.name, State: ni.state, LoseReplica: []Ref{}, LoseQuorum: []Ref{}}
		if ni.node != nil {
			imp.Hostname = ni.hostname
		}
		if x := a.impact[ni]; x != nil {
			imp.Pods, imp.Volumes = x.pods, x.volumes
			imp.LoseReplica = append(imp.LoseReplica, x.lose...)
			imp.LoseQuorum = append(imp.LoseQuorum, x.quorum...)
		}
		r.Nodes = append(r.Nodes, imp)
	}
	r.Problems = nonNil(r.Problems)
	slices.SortFunc(r.Problems, func(x, y Problem) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Message, y.Message))
	})
	r.Summary.Problems = len(r.Problems)
}

// nonNil returns s, or an empty list for nil, so that the JSON has [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// recoveryStates sets each stranded replica's recovery state: what the recovery controller
// would do now (policy.DecideRecovery), under the policy that selects the StatefulSet.
func (a *analyzer) recoveryStates(sts *appsv1.StatefulSet, p *v1alpha1.PlacementPolicy, reps []*replica) {
	stranded := slices.ContainsFunc(reps, func(r *replica) bool { return r.Stranded })
	_, inFlight := sts.Annotations[policy.RecoveryAnnotation]
	if !stranded && !inFlight {
		return
	}
	f := policy.RecoveryFacts{StatefulSet: sts, Pods: a.snap.Pods, Claims: a.snap.PVCs, Volumes: a.snap.PVs, Nodes: a.snap.Nodes,
		Now: metav1.NewTime(a.opts.Now), InFlight: a.inFlight}
	if inFlight {
		f.InFlight--
	}
	if p != nil {
		f.Spec = p.Spec.Recovery
	}
	d := policy.DecideRecovery(f)
	for _, rr := range d.Replicas {
		for _, r := range reps {
			if r.Ordinal == rr.Ordinal {
				r.Recovery = &RecoveryState{State: rr.State, Guard: string(rr.Guard), Message: rr.Message}
			}
		}
	}
}
