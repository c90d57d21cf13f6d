package audit

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// now is the clock reading of every test audit.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture builds a small cluster by hand.
type fixture struct {
	snap Snapshot
}

func newFixture() *fixture {
	f := &fixture{}
	f.snap.StorageClasses = []*storagev1.StorageClass{{
		ObjectMeta:  metav1.ObjectMeta{Name: "openebs-hostpath", Annotations: map[string]string{defaultClassAnnotation: "true"}},
		Provisioner: "openebs.io/local",
	}}
	return f
}

func (f *fixture) analyze() *Report { return Analyze(&f.snap, nil, Options{Now: now}) }

// node adds a Ready node labelled with its name as hostname, Ready for an hour.
func (f *fixture) node(name string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour)),
		}}},
	}
	for _, m := range mods {
		m(n)
	}
	f.snap.Nodes = append(f.snap.Nodes, n)
	return n
}

func (f *fixture) nodes(names ...string) {
	for _, n := range names {
		f.node(n)
	}
}

// notReadyFor makes a node NotReady (status Unknown) since d before now.
func notReadyFor(d time.Duration) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionUnknown
		n.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-d))
	}
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func tainted(key string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

// sts adds a StatefulSet that the default policy accepts: app=<name> labels, a "data" claim
// template on openebs-hostpath, required hostname anti-affinity and zone spread.
func (f *fixture) sts(ns, name string, replicas int32, mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	sel := map[string]string{"app": name}
	s := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "db", Image: "db:1"}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
							TopologyKey:   corev1.LabelHostname,
						}},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("openebs-hostpath")},
			}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	f.snap.StatefulSets = append(f.snap.StatefulSets, s)
	return s
}

func softAntiAffinity(s *appsv1.StatefulSet) {
	a := s.Spec.Template.Spec.Affinity.PodAntiAffinity
	a.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: a.RequiredDuringSchedulingIgnoredDuringExecution[0]}}
	a.RequiredDuringSchedulingIgnoredDuringExecution = nil
}

func instance(v string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.Template.Labels[InstanceLabel] = v }
}

// pod adds the pod of one ordinal, Running and Ready on node ("" leaves it Pending, unscheduled).
func (f *fixture) pod(s *appsv1.StatefulSet, ordinal int, node string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: s.Name + "-" + strconv.Itoa(ordinal),
			Labels: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: s.Name, UID: s.UID, Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for k, v := range s.Spec.Template.Labels {
		p.Labels[k] = v
	}
	if node == "" {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 node(s) had volume node affinity conflict.",
		}}}
	}
	for _, m := range mods {
		m(p)
	}
	f.snap.Pods = append(f.snap.Pods, p)
	return p
}

func notReadyPod(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

// volume adds the claim data-<sts>-<ordinal>, bound to a local volume pinned (by hostname) to node.
func (f *fixture) volume(s *appsv1.StatefulSet, ordinal int, node string) *corev1.PersistentVolume {
	claim := "data-" + s.Name + "-" + strconv.Itoa(ordinal)
	pvName := "pvc-" + s.Namespace + "-" + claim
	f.snap.PVCs = append(f.snap.PVCs, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: claim},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("openebs-hostpath"), VolumeName: pvName},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	})
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: "openebs-hostpath",
			ClaimRef:         &corev1.ObjectReference{Namespace: s.Namespace, Name: claim},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	f.snap.PVs = append(f.snap.PVs, pv)
	return pv
}

// replica adds the pod and volume of one ordinal on one node.
func (f *fixture) replica(s *appsv1.StatefulSet, ordinal int, node string) {
	f.pod(s, ordinal, node)
	f.volume(s, ordinal, node)
}

// pdb adds a budget over app=<app>.
func (f *fixture) pdb(ns, name, app string, mods ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	b := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
		},
	}
	for _, m := range mods {
		m(b)
	}
	f.snap.PDBs = append(f.snap.PDBs, b)
	return b
}

func maxUnavail(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
	return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &v }
}

func minAvail(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
	return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, &v }
}

// healthy adds a StatefulSet with one replica per node, each pod Running and Ready next to its
// volume, and a budget with maxUnavailable 1: nothing to report.
func (f *fixture) healthy(ns, name string, nodes ...string) *appsv1.StatefulSet {
	s := f.sts(ns, name, int32(len(nodes)))
	for i, n := range nodes {
		f.replica(s, i, n)
	}
	if len(nodes) >= 2 {
		f.pdb(ns, name+"-stowage", name)
	}
	return s
}

// brief lists findings as "severity ID namespace/statefulset node" for comparison.
func brief(fs []Finding, keep func(*Finding) bool) []string {
	out := []string{}
	for i := range fs {
		f := &fs[i]
		if keep != nil && !keep(f) {
			continue
		}
		s := fmt.Sprintf("%s %s %s/%s", f.Severity, f.ID, f.Namespace, f.StatefulSet)
		if f.Node != "" {
			s += " " + f.Node
		}
		out = append(out, s)
	}
	return out
}

func emptySet() *policy.Set { return policy.NewSet() }

func defaultPolicy() *v1alpha1.PlacementPolicy { return policyfile.Default() }

// warnPolicyFor is the default policy under another name, with Warn, for namespaces labelled
// tier=<tier>, at a higher priority than the default.
func warnPolicyFor(tier string) *v1alpha1.PlacementPolicy {
	p := policyfile.Default()
	p.Name = "lenient"
	p.Spec.Priority = 10
	p.Spec.EnforcementAction = v1alpha1.Warn
	p.Spec.NamespaceSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"tier": v1alpha1.LabelValue(tier)}}
	return p
}

func setOf(t testing.TB, ps ...*v1alpha1.PlacementPolicy) *policy.Set {
	t.Helper()
	set, errs := PolicySet(ps)
	if len(errs) > 0 {
		t.Fatalf("policies: %v", errs)
	}
	return set
}

func namespace(name string, l map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func deepCopySnapshot(s *Snapshot) *Snapshot {
	out := &Snapshot{}
	for _, o := range s.StatefulSets {
		out.StatefulSets = append(out.StatefulSets, o.DeepCopy())
	}
	for _, o := range s.Pods {
		out.Pods = append(out.Pods, o.DeepCopy())
	}
	for _, o := range s.PVCs {
		out.PVCs = append(out.PVCs, o.DeepCopy())
	}
	for _, o := range s.PVs {
		out.PVs = append(out.PVs, o.DeepCopy())
	}
	for _, o := range s.Nodes {
		out.Nodes = append(out.Nodes, o.DeepCopy())
	}
	for _, o := range s.PDBs {
		out.PDBs = append(out.PDBs, o.DeepCopy())
	}
	for _, o := range s.StorageClasses {
		out.StorageClasses = append(out.StorageClasses, o.DeepCopy())
	}
	for _, o := range s.Namespaces {
		out.Namespaces = append(out.Namespaces, o.DeepCopy())
	}
	for _, o := range s.CustomResources {
		out.CustomResources = append(out.CustomResources, o.DeepCopy())
	}
	out.Skipped = append(out.Skipped, s.Skipped...)
	return out
}

// demoFixture is a small cluster with one of nearly everything the audit reports, used by the
// golden files:
//
//   - payments/postgres: three healthy replicas on three nodes (clean);
//   - payments/redis: two replicas and their volumes on node-1, soft anti-affinity, no budget;
//   - payments/ledger: pod 0 runs on node-6, its volume is pinned to node-1;
//   - search/elasticsearch: one volume on a node that is gone (pod Pending), one on a node that
//     is down, and a budget that lets 3 of 5 go;
//   - messaging/kafka and messaging/zookeeper: one instance, sharing nodes; a kafka volume on a
//     cordoned node; two budgets over zookeeper;
//   - tools/metrics: a single replica;
//   - monitoring/kps: a Prometheus and the StatefulSet its operator made;
//   - kafka/events-broker: a StrimziPodSet with two brokers and their volumes on node-3.
func demoFixture() *fixture {
	f := newFixture()
	f.nodes("node-1", "node-2", "node-3")
	f.node("node-4", cordoned)
	f.node("node-5", notReadyFor(20*time.Minute))
	f.node("node-6")
	f.snap.Namespaces = []*corev1.Namespace{
		namespace("payments", map[string]string{"team": "payments"}),
		namespace("search", nil),
		namespace("messaging", nil),
		namespace("tools", nil),
	}

	f.healthy("payments", "postgres", "node-1", "node-2", "node-3")

	redis := f.sts("payments", "redis", 3, softAntiAffinity)
	f.replica(redis, 0, "node-1")
	f.replica(redis, 1, "node-1")
	f.replica(redis, 2, "node-2")

	ledger := f.sts("payments", "ledger", 3)
	f.pod(ledger, 0, "node-6")
	f.volume(ledger, 0, "node-1")
	f.replica(ledger, 1, "node-2")
	f.replica(ledger, 2, "node-3")
	f.pdb("payments", "ledger", "ledger")

	es := f.sts("search", "elasticsearch", 5)
	f.replica(es, 0, "node-1")
	f.replica(es, 1, "node-2")
	f.replica(es, 2, "node-3")
	f.pod(es, 3, "")
	f.volume(es, 3, "node-7")
	f.replica(es, 4, "node-5")
	f.pdb("search", "elasticsearch", "elasticsearch", maxUnavail(intstr.FromInt32(3)))

	kafka := f.sts("messaging", "kafka", 3, instance("events"))
	f.replica(kafka, 0, "node-2")
	f.replica(kafka, 1, "node-3")
	f.replica(kafka, 2, "node-4")
	f.pdb("messaging", "kafka", "kafka")

	zk := f.sts("messaging", "zookeeper", 3, instance("events"))
	f.replica(zk, 0, "node-2")
	f.replica(zk, 1, "node-3")
	f.replica(zk, 2, "node-6")
	f.pdb("messaging", "zookeeper", "zookeeper")
	f.pdb("messaging", "zookeeper-chart", "zookeeper")

	metrics := f.sts("tools", "metrics", 1)
	f.replica(metrics, 0, "node-6")

	// monitoring/kps: a Prometheus whose StatefulSet Stowage completed, so its missing term is
	// for the record, and its missing spread moves from the StatefulSet to the resource.
	// kafka/events-broker: a StrimziPodSet with two brokers on node-3.
	f.snap.Namespaces = append(f.snap.Namespaces, namespace("monitoring", nil), namespace("kafka", nil))
	prom := f.operatorMade(f.customResource("monitoring.coreos.com/v1", "Prometheus", "monitoring", "kps", prometheusSpec), withRequiredTerm)
	f.replica(prom, 0, "node-1")
	f.replica(prom, 1, "node-2")
	f.snap.PVCs[len(f.snap.PVCs)-2].Name, f.snap.PVCs[len(f.snap.PVCs)-1].Name = "prometheus-kps-db-prometheus-kps-0", "prometheus-kps-db-prometheus-kps-1"
	f.snap.PVs[len(f.snap.PVs)-2].Spec.ClaimRef.Name, f.snap.PVs[len(f.snap.PVs)-1].Spec.ClaimRef.Name = "prometheus-kps-db-prometheus-kps-0", "prometheus-kps-db-prometheus-kps-1"
	f.pdb("monitoring", "prometheus-kps", "", func(b *policyv1.PodDisruptionBudget) {
		b.Spec.Selector.MatchLabels = map[string]string{"prometheus": "kps"}
	})
	f.ownedPod("kafka", "events-broker-0", strimziPodSet, "StrimziPodSet", "events-broker", "node-3", "data-0-events-broker-0")
	f.ownedPod("kafka", "events-broker-1", strimziPodSet, "StrimziPodSet", "events-broker", "node-3", "data-0-events-broker-1")
	f.ownedPod("kafka", "events-broker-2", strimziPodSet, "StrimziPodSet", "events-broker", "node-6", "data-0-events-broker-2")
	f.claimOn("kafka", "data-0-events-broker-0", "node-3")
	f.claimOn("kafka", "data-0-events-broker-1", "node-3")
	f.claimOn("kafka", "data-0-events-broker-2", "node-6")
	f.snap.Skipped = []Skipped{{Group: "monitoring.coreos.com", Kind: "ThanosRuler", Reason: SkippedNotInstalled}}
	return f
}
