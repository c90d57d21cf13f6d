package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/operatorcr"
)

// prometheusSpec is a Prometheus as kube-prometheus-stack renders it: two replicas, the chart's
// soft anti-affinity, a claim template on the local class.
const prometheusSpec = `
replicas: 2
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchExpressions:
              - {key: app.kubernetes.io/name, operator: In, values: [prometheus]}
storage:
  volumeClaimTemplate:
    spec:
      storageClassName: openebs-hostpath
      resources: {requests: {storage: 1Gi}}
`

// customResource adds an operator resource of the given apiVersion and kind, with spec as YAML.
func (f *fixture) customResource(apiVersion, kind, ns, name, spec string) *unstructured.Unstructured {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(spec), &m); err != nil {
		panic(err) // a fixture's own YAML
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "spec": m}}
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + kind + "-" + ns + "-" + name))
	f.snap.CustomResources = append(f.snap.CustomResources, u)
	return u
}

// operatorMade adds the StatefulSet the operator makes for a resource of the table: the
// projection, controlled by the resource, then mods.
func (f *fixture) operatorMade(cr *unstructured.Unstructured, mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	k := operatorcr.Lookup(cr.GetAPIVersion(), cr.GetKind())
	ps, err := operatorcr.Project(k, cr.Object)
	if err != nil || len(ps) != 1 {
		panic(fmt.Sprint(err, len(ps))) // a fixture's own resource
	}
	s := ps[0].StatefulSet
	s.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}
	s.Namespace, s.UID = cr.GetNamespace(), types.UID("uid-"+cr.GetNamespace()+"-"+s.Name)
	s.OwnerReferences = []metav1.OwnerReference{{APIVersion: cr.GetAPIVersion(), Kind: cr.GetKind(), Name: cr.GetName(),
		UID: cr.GetUID(), Controller: ptr.To(true)}}
	for _, m := range mods {
		m(s)
	}
	f.snap.StatefulSets = append(f.snap.StatefulSets, s)
	return s
}

// withRequiredTerm adds what Stowage's webhook adds on create: the required hostname term.
func withRequiredTerm(s *appsv1.StatefulSet) {
	a := s.Spec.Template.Spec.Affinity
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{{
		LabelSelector: s.Spec.Selector.DeepCopy(), TopologyKey: corev1.LabelHostname,
	}}
}

// resourceBrief lists findings as "severity ID subject field → statefulSet".
func resourceBrief(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		s := fmt.Sprintf("%s %s %s %s", f.Severity, f.ID, f.Subject(), f.Field)
		if f.Resource != nil {
			s += " → " + f.StatefulSet
		}
		out = append(out, s)
	}
	return out
}

func only(fs []Finding, ids ...FindingID) []Finding {
	var out []Finding
	for _, f := range fs {
		for _, id := range ids {
			if f.ID == id {
				out = append(out, f)
			}
		}
	}
	return out
}

const requiredTermPath = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"

func TestCustomResources(t *testing.T) {
	const prom = "monitoring.coreos.com/v1"
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, f *fixture)
		want  []string
		row   CustomResourceRow
	}{
		{
			name: "Prometheus with soft anti-affinity, no StatefulSet yet → AntiAffinityMissing error at spec.affinity",
			build: func(t *testing.T, f *fixture) {
				f.customResource(prom, "Prometheus", "monitoring", "kps", prometheusSpec)
			},
			want: []string{
				"error AntiAffinityMissing Prometheus monitoring/kps " + requiredTermPath + " → ",
				"warning TopologySpreadMissing Prometheus monitoring/kps spec.topologySpreadConstraints → ",
			},
			row: CustomResourceRow{APIVersion: prom, Kind: "Prometheus", Namespace: "monitoring", Name: "kps", UID: "uid-Prometheus-monitoring-kps",
				Operator: "prometheus-operator", StatefulSets: []MadeStatefulSet{{Name: "prometheus-kps"}}, Policy: "default", Violations: 2, Findings: 2, WorstSeverity: SeverityError},
		},
		{
			name: "Prometheus and the StatefulSet made from it both lack the term → the StatefulSet's finding moves to the resource, linked",
			build: func(t *testing.T, f *fixture) {
				cr := f.customResource(prom, "Prometheus", "monitoring", "kps", prometheusSpec)
				s := f.operatorMade(cr)
				f.pod(s, 0, "node-a")
				f.pod(s, 1, "node-b")
				f.pdb("monitoring", "kps", "x", func(b *policyv1.PodDisruptionBudget) {
					b.Spec.Selector.MatchLabels = map[string]string{"prometheus": "kps"}
				})
			},
			want: []string{
				"error AntiAffinityMissing Prometheus monitoring/kps " + requiredTermPath + " → prometheus-kps",
				"warning TopologySpreadMissing Prometheus monitoring/kps spec.topologySpreadConstraints → prometheus-kps",
			},
			row: CustomResourceRow{APIVersion: prom, Kind: "Prometheus", Namespace: "monitoring", Name: "kps", UID: "uid-Prometheus-monitoring-kps",
				Operator: "prometheus-operator", StatefulSets: []MadeStatefulSet{{Name: "prometheus-kps", Found: true}}, Policy: "default", Violations: 2,
				Findings: 2, WorstSeverity: SeverityError},
		},
		{
			name: "Stowage added the term to the StatefulSet the operator made → info at the resource, for the record",
			build: func(t *testing.T, f *fixture) {
				cr := f.customResource(prom, "Prometheus", "monitoring", "kps", prometheusSpec)
				s := f.operatorMade(cr, withRequiredTerm)
				f.pod(s, 0, "node-a")
				f.pod(s, 1, "node-b")
				f.pdb("monitoring", "kps", "x", func(b *policyv1.PodDisruptionBudget) {
					b.Spec.Selector.MatchLabels = map[string]string{"prometheus": "kps"}
				})
			},
			want: []string{
				"warning TopologySpreadMissing Prometheus monitoring/kps spec.topologySpreadConstraints → prometheus-kps",
				"info AntiAffinityMissing Prometheus monitoring/kps " + requiredTermPath + " → prometheus-kps",
			},
			row: CustomResourceRow{APIVersion: prom, Kind: "Prometheus", Namespace: "monitoring", Name: "kps", UID: "uid-Prometheus-monitoring-kps",
				Operator: "prometheus-operator", StatefulSets: []MadeStatefulSet{{Name: "prometheus-kps", Found: true}}, Policy: "default", Violations: 2,
				Findings: 2, WorstSeverity: SeverityWarning},
		},
		{
			name: "a StatefulSet of the same name that the resource does not control → not linked, its own finding stays",
			build: func(t *testing.T, f *fixture) {
				cr := f.customResource(prom, "Prometheus", "monitoring", "kps", prometheusSpec)
				s := f.operatorMade(cr)
				s.OwnerReferences[0].UID = "someone-else"
			},
			want: []string{
				"error AntiAffinityMissing Prometheus monitoring/kps " + requiredTermPath + " → ",
				"error AntiAffinityMissing monitoring/prometheus-kps spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				"warning TopologySpreadMissing Prometheus monitoring/kps spec.topologySpreadConstraints → ",
				"warning TopologySpreadMissing monitoring/prometheus-kps spec.template.spec.topologySpreadConstraints",
			},
			row: CustomResourceRow{APIVersion: prom, Kind: "Prometheus", Namespace: "monitoring", Name: "kps", UID: "uid-Prometheus-monitoring-kps",
				Operator: "prometheus-operator", StatefulSets: []MadeStatefulSet{{Name: "prometheus-kps"}}, Policy: "default", Violations: 2, Findings: 2, WorstSeverity: SeverityError},
		},
		{
			name: "Alertmanager with the required term → nothing at the resource",
			build: func(t *testing.T, f *fixture) {
				f.customResource(prom, "Alertmanager", "monitoring", "main", `
replicas: 3
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {alertmanager: main}}
topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {alertmanager: main}}}
`)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			f.nodes("node-a", "node-b", "node-c")
			tc.build(t, f)
			r := f.analyze()
			if len(r.Problems) > 0 {
				t.Fatalf("problems: %+v", r.Problems)
			}
			got := resourceBrief(only(r.Findings, "AntiAffinityMissing", "TopologySpreadMissing"))
			if diff := cmp.Diff(orEmpty(tc.want), got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if tc.row.Kind == "" {
				return
			}
			if len(r.CustomResources) != 1 {
				t.Fatalf("customResources: %+v", r.CustomResources)
			}
			if diff := cmp.Diff(tc.row, r.CustomResources[0]); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestCustomResourceProblemsAndPolicies(t *testing.T) {
	f := newFixture()
	f.nodes("node-a", "node-b")
	f.customResource("monitoring.coreos.com/v1", "Prometheus", "monitoring", "bad", "replicas: two\n")
	f.customResource("monitoring.coreos.com/v1", "ServiceMonitor", "monitoring", "other", "endpoints: []\n")
	f.customResource("monitoring.coreos.com/v1", "ThanosRuler", "monitoring", "ruler", prometheusSpec)
	f.snap.Skipped = []Skipped{{Group: "core.strimzi.io", Kind: "KafkaNodePool", Reason: SkippedForbidden},
		{Group: "monitoring.coreos.com", Kind: "Alertmanager", Reason: SkippedNotInstalled}}

	r := f.analyze()
	if len(r.Problems) != 1 || r.Problems[0].Kind != "Prometheus" || r.Problems[0].Name != "bad" ||
		!strings.Contains(r.Problems[0].Message, "spec.replicas") {
		t.Errorf("a Prometheus whose replicas are not a number must be a problem naming spec.replicas: %+v", r.Problems)
	}
	if len(r.CustomResources) != 1 || r.CustomResources[0].Kind != "ThanosRuler" || r.Summary.CustomResources != 1 {
		t.Errorf("only the ThanosRuler is a row: %+v", r.CustomResources)
	}
	want := []Skipped{{Group: "core.strimzi.io", Kind: "KafkaNodePool", Reason: SkippedForbidden},
		{Group: "monitoring.coreos.com", Kind: "Alertmanager", Reason: SkippedNotInstalled}}
	if diff := cmp.Diff(want, r.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if r.ExitCode("") != ExitError {
		t.Error("a problem gives exit code 2")
	}

	// No policy selects the namespace: a row without a policy, and no finding at the resource.
	r = Analyze(&f.snap, emptySet(), Options{Now: now})
	for _, fi := range r.Findings {
		if fi.Resource != nil {
			t.Errorf("finding at a resource no policy selects: %+v", fi)
		}
	}
	if len(r.CustomResources) != 1 || r.CustomResources[0].Policy != "" {
		t.Errorf("rows: %+v", r.CustomResources)
	}
}

// TestCustomResourceJSON checks the finding's resource in the JSON form.
func TestCustomResourceJSON(t *testing.T) {
	f := newFixture()
	f.nodes("node-a", "node-b")
	f.customResource("monitoring.coreos.com/v1", "Prometheus", "monitoring", "kps", prometheusSpec)
	r := f.analyze()
	fs := only(r.Findings, "AntiAffinityMissing")
	if len(fs) != 1 {
		t.Fatalf("findings: %+v", r.Findings)
	}
	b, err := json.Marshal(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"resource":{"apiVersion":"monitoring.coreos.com/v1","kind":"Prometheus","name":"kps"}`) {
		t.Errorf("JSON: %s", b)
	}
}

// TestCustomResourceMadeIntoPods: Strimzi makes a KafkaNodePool's pods through a StrimziPodSet,
// which the webhook never sees, so the pool's findings keep the engine's severity, and the row
// names the StrimziPodSet, whose pods are audited as a pod set.
func TestCustomResourceMadeIntoPods(t *testing.T) {
	f := newFixture()
	f.nodes("node-a", "node-b", "node-c")
	pool := f.customResource("kafka.strimzi.io/v1beta2", "KafkaNodePool", "kafka", "broker", `
replicas: 3
roles: [broker]
storage: {type: persistent-claim, size: 100Gi, class: openebs-hostpath}
template:
  pod:
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {strimzi.io/pool-name: broker}}
`)
	pool.SetLabels(map[string]string{"strimzi.io/cluster": "my-cluster"})
	f.ownedPod("kafka", "my-cluster-broker-0", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-a")
	f.ownedPod("kafka", "my-cluster-broker-1", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-a")
	r := f.analyze()
	if len(r.Problems) > 0 {
		t.Fatalf("problems: %+v", r.Problems)
	}
	got := resourceBrief(only(r.Findings, "AntiAffinityMissing", "ColocatedReplicas"))
	want := []string{
		"error AntiAffinityMissing KafkaNodePool kafka/broker spec.template.pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution → ",
		"error ColocatedReplicas StrimziPodSet kafka/my-cluster-broker  → ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if len(r.CustomResources) != 1 || !cmp.Equal(r.CustomResources[0].StatefulSets, []MadeStatefulSet{{Name: "my-cluster-broker", PodSet: true}}) {
		t.Errorf("rows: %+v", r.CustomResources)
	}
}
