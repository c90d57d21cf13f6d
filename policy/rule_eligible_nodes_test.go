package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func tainted(effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "gpu", Effect: effect})
	}
}

func labelled(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

// manyNodes returns n plain nodes in three zones, each changed by mod.
func manyNodes(n int, mod func(i int, n *corev1.Node)) []*corev1.Node {
	out := make([]*corev1.Node, n)
	for i := range out {
		out[i] = node(fmt.Sprintf("n-%03d", i), fmt.Sprintf("z%d", i%3))
		mod(i, out[i])
	}
	return out
}

func TestEligibleNodes(t *testing.T) {
	three := []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3")}
	tests := []struct {
		name      string
		sts       *appsv1.StatefulSet
		policy    *v1alpha1.PlacementPolicy
		nodes     []*corev1.Node
		known     bool
		want      []string
		wantInMsg string
	}{
		{
			name:  "3 replicas, 3 plain nodes → fine",
			sts:   statefulSet(),
			nodes: three, known: true,
			want: []string{},
		},
		{
			name:  "nodes unknown (offline without --nodes) → not checked",
			sts:   statefulSet(replicas(9)),
			nodes: nil, known: false,
			want: []string{},
		},
		{
			name:  "no nodes yet (bootstrap, GitOps before the first node) → unknown, not checked",
			sts:   statefulSet(replicas(3)),
			nodes: []*corev1.Node{}, known: true,
			want: []string{},
		},
		{
			name:  "4 replicas, 3 nodes, one in a Karpenter node pool → a warning: the pool can grow",
			sts:   statefulSet(replicas(4)),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3", labelled("karpenter.sh/nodepool", "default"))}, known: true,
			want:      []string{"InsufficientEligibleNodes warning spec.replicas"},
			wantInMsg: "node c carries karpenter.sh/nodepool",
		},
		{
			name:   "4 replicas, 3 nodes in an EKS node group the policy does not treat as growable → denied",
			sts:    statefulSet(replicas(4)),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.NodeCapacity.GrowableNodeLabels = []string{} }),
			nodes:  []*corev1.Node{node("a", "z1", labelled("eks.amazonaws.com/nodegroup", "ng")), node("b", "z2"), node("c", "z3")}, known: true,
			want: []string{"InsufficientEligibleNodes error spec.replicas"},
		},
		{
			name:   "4 replicas, 3 fixed nodes, policy whenInsufficient: Warn → a warning",
			sts:    statefulSet(replicas(4)),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.NodeCapacity.WhenInsufficient = v1alpha1.CapacityWarn }),
			nodes:  three, known: true,
			want:      []string{"InsufficientEligibleNodes warning spec.replicas"},
			wantInMsg: "whenInsufficient is Warn",
		},
		{
			name: "5 replicas, DoNotSchedule spread on rack, only 4 of 6 nodes carry rack → 4 eligible, rejected",
			sts: statefulSet(replicas(5), func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "rack",
					WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: s.Spec.Selector}}
			}),
			nodes: manyNodes(6, func(i int, n *corev1.Node) {
				if i < 4 {
					n.Labels["rack"] = fmt.Sprint("r", i)
				}
			}), known: true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 4 eligible node(s)",
		},
		{
			name:  "4 replicas, 3 nodes → rejected at spec.replicas naming 3 eligible nodes",
			sts:   statefulSet(replicas(4)),
			nodes: three, known: true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 3 eligible node(s)",
		},
		{
			name:  "3 replicas, one node cordoned → 2 eligible, rejected",
			sts:   statefulSet(),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3", cordoned)}, known: true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 2 eligible node(s)",
		},
		{
			name:  "3 replicas, one node tainted NoSchedule, not tolerated → rejected",
			sts:   statefulSet(),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3", tainted(corev1.TaintEffectNoSchedule))}, known: true,
			want: []string{"InsufficientEligibleNodes error spec.replicas"},
		},
		{
			name: "3 replicas, NoSchedule taint tolerated → fine",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			}),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3", tainted(corev1.TaintEffectNoSchedule))}, known: true,
			want: []string{},
		},
		{
			name:  "3 replicas, PreferNoSchedule taint → still eligible",
			sts:   statefulSet(),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3", tainted(corev1.TaintEffectPreferNoSchedule))}, known: true,
			want: []string{},
		},
		{
			name:  "3 replicas, nodeSelector disk=nvme matches 2 nodes → rejected",
			sts:   statefulSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "nvme"} }),
			nodes: []*corev1.Node{node("a", "z1", labelled("disk", "nvme")), node("b", "z2", labelled("disk", "nvme")), node("c", "z3")}, known: true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 2 eligible",
		},
		{
			name:  "3 replicas, node affinity to zones z1 and z2 → 2 eligible, rejected",
			sts:   statefulSet(nodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1alpha1.ZoneTopologyKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"z1", "z2"}}}})),
			nodes: three, known: true,
			want: []string{"InsufficientEligibleNodes error spec.replicas"},
		},
		{
			name:  "3 replicas on 3 nodes in 2 zones, user's required anti-affinity on the zone → 2 zones, rejected",
			sts:   statefulSet(withRequiredAnti(func() corev1.PodAffinityTerm { t := ownTerm(); t.TopologyKey = v1alpha1.ZoneTopologyKey; return t }())),
			nodes: []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z2")}, known: true,
			want: []string{
				"InsufficientEligibleNodes error spec.replicas",
				"AntiAffinityWideKey warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
			},
			wantInMsg: "distinct topology.kubernetes.io/zone values",
		},
		{
			name:   "anti-affinity off, 3 replicas, 2 nodes → warning: replicas would share a node",
			sts:    statefulSet(),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Off }),
			nodes:  three[:2], known: true,
			want:      []string{"InsufficientEligibleNodes warning spec.replicas"},
			wantInMsg: "would share a node",
		},
		{
			name:   "anti-affinity off, user's zone term, a node without a zone label → no bound from the zone; 3 replicas on 2 hosts warned",
			sts:    statefulSet(withRequiredAnti(func() corev1.PodAffinityTerm { t := ownTerm(); t.TopologyKey = v1alpha1.ZoneTopologyKey; return t }())),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Off }),
			nodes:  []*corev1.Node{node("a", "z1"), func() *corev1.Node { n := node("b", "z2"); delete(n.Labels, v1alpha1.ZoneTopologyKey); return n }()},
			known:  true,
			want: []string{
				"InsufficientEligibleNodes warning spec.replicas",
				"AntiAffinityWideKey warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
			},
			wantInMsg: "only 2 eligible node(s)",
		},
		{
			name:   "anti-affinity off, user's zone term, 3 zones then a node without a zone label, one hostname → no bound from the zone; warned",
			sts:    statefulSet(withRequiredAnti(func() corev1.PodAffinityTerm { t := ownTerm(); t.TopologyKey = v1alpha1.ZoneTopologyKey; return t }())),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.AntiAffinity.Mode = v1alpha1.Off }),
			nodes: manyNodes(4, func(i int, n *corev1.Node) {
				n.Labels[corev1.LabelHostname] = "h"
				if i == 3 {
					delete(n.Labels, v1alpha1.ZoneTopologyKey)
				}
			}),
			known: true,
			want: []string{
				"InsufficientEligibleNodes warning spec.replicas",
				"AntiAffinityWideKey warning spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
			},
			wantInMsg: "only 1 eligible node(s)",
		},
		{
			name: "3 replicas, 500 nodes of which only the last 2 are eligible → the count is exact: rejected naming 2",
			sts:  statefulSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "nvme"} }),
			nodes: manyNodes(500, func(i int, n *corev1.Node) {
				if i >= 498 {
					n.Labels["disk"] = "nvme"
				}
			}),
			known:     true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 2 eligible node(s)",
		},
		{
			name:  "3 replicas, 500 nodes, the first 3 of them cordoned → fine",
			sts:   statefulSet(),
			nodes: manyNodes(500, func(i int, n *corev1.Node) { n.Spec.Unschedulable = i < 3 }),
			known: true,
			want:  []string{},
		},
		{
			name:      "3 replicas, 500 nodes sharing 2 hostnames → 2 distinct hostnames, rejected",
			sts:       statefulSet(),
			nodes:     manyNodes(500, func(i int, n *corev1.Node) { n.Labels[corev1.LabelHostname] = []string{"h1", "h2"}[i%2] }),
			known:     true,
			want:      []string{"InsufficientEligibleNodes error spec.replicas"},
			wantInMsg: "only 2 eligible node(s)",
		},
		{
			name:  "2 nodes, but the StatefulSet has a single replica → fine",
			sts:   statefulSet(replicas(1)),
			nodes: three[:2], known: true,
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{NodesKnown: tc.known, Nodes: tc.nodes})
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if tc.wantInMsg != "" && (len(res.Violations) == 0 || !strings.Contains(res.Violations[0].Message, tc.wantInMsg)) {
				t.Errorf("message should contain %q: %v", tc.wantInMsg, res.Violations)
			}
		})
	}
}

func TestEligibleNodesOnScale(t *testing.T) {
	nodes := []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3")}
	f := Facts{NodesKnown: true, Nodes: nodes}
	t.Run("scale 3 → 4 on 3 nodes → error", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: compliant(replicas(4)), OldObject: compliant()}, testPolicy(), f)
		if diff := cmp.Diff([]string{"InsufficientEligibleNodes error spec.replicas"}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("a node died under a 3-replica set, unrelated update → warning, not a denial", func(t *testing.T) {
		f := Facts{NodesKnown: true, Nodes: nodes[:2]}
		res := evaluate(t, Request{Operation: Update, Object: compliant(func(s *appsv1.StatefulSet) { s.Labels["x"] = "y" }), OldObject: compliant()}, testPolicy(), f)
		if diff := cmp.Diff([]string{"InsufficientEligibleNodes warning spec.replicas"}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("scale down 4 → 3 on 3 nodes → fine", func(t *testing.T) {
		res := evaluate(t, Request{Operation: Update, Object: compliant(), OldObject: compliant(replicas(4))}, testPolicy(), f)
		if diff := cmp.Diff([]string{}, ruleHits(res.Violations)); diff != "" {
			t.Error(diff)
		}
	})
}

func TestNodeEligible(t *testing.T) {
	spec := func(mods ...func(*corev1.PodSpec)) *corev1.PodSpec {
		s := &corev1.PodSpec{}
		for _, m := range mods {
			m(s)
		}
		return s
	}
	tolerateAll := func(s *corev1.PodSpec) { s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} }
	tolerateKey := func(s *corev1.PodSpec) {
		s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	}
	tolerateWrongValue := func(s *corev1.PodSpec) {
		s.Tolerations = []corev1.Toleration{{Key: "dedicated", Value: "cpu", Effect: corev1.TaintEffectNoSchedule}}
	}
	gt := func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"8"}}}}}}}}
	}
	notIn := func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a"}}}}}}}}
	}
	inNotIn := func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b", "c"}},
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"b", "c"}}}}}}}}
	}
	spreadRack := func(when corev1.UnsatisfiableConstraintAction) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "rack", WhenUnsatisfiable: when}}
		}
	}
	emptyTerm := func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}}}
	}
	tests := []struct {
		name string
		spec *corev1.PodSpec
		node *corev1.Node
		want bool
	}{
		{"plain node", spec(), node("a", "z1"), true},
		{"cordoned node", spec(), node("a", "z1", cordoned), false},
		{"cordoned node, pod tolerates everything", spec(tolerateAll), node("a", "z1", cordoned), true},
		{"NoExecute taint", spec(), node("a", "z1", tainted(corev1.TaintEffectNoExecute)), false},
		{"NoSchedule taint tolerated by key with Exists", spec(tolerateKey), node("a", "z1", tainted(corev1.TaintEffectNoSchedule)), true},
		{"NoSchedule taint, toleration with another value", spec(tolerateWrongValue), node("a", "z1", tainted(corev1.TaintEffectNoSchedule)), false},
		{"Gt 8 on a 16-core node", spec(gt), node("a", "z1", labelled("cores", "16")), true},
		{"Gt 8 on a 4-core node", spec(gt), node("a", "z1", labelled("cores", "4")), false},
		{"Gt 8 on an unlabelled node", spec(gt), node("a", "z1"), false},
		{"NotIn excludes the node", spec(notIn), node("a", "z1"), false},
		{"NotIn admits another node", spec(notIn), node("b", "z1"), true},
		{"an empty node selector term matches nothing", spec(emptyTerm), node("a", "z1"), false},
		{"In [a,b,c] NotIn [b,c]: a is eligible", spec(inNotIn), node("a", "z1"), true},
		{"In [a,b,c] NotIn [b,c]: b is not", spec(inNotIn), node("b", "z1"), false},
		{"DoNotSchedule spread on rack: a node without the label is not eligible", spec(spreadRack(corev1.DoNotSchedule)), node("a", "z1"), false},
		{"DoNotSchedule spread on rack: a node with it is", spec(spreadRack(corev1.DoNotSchedule)), node("a", "z1", labelled("rack", "r1")), true},
		{"ScheduleAnyway spread on rack: the label is not required", spec(spreadRack(corev1.ScheduleAnyway)), node("a", "z1"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeEligible(tc.spec, tc.node); got != tc.want {
				t.Errorf("NodeEligible = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRatchetOnScale(t *testing.T) {
	three := []*corev1.Node{node("a", "z1"), node("b", "z2"), node("c", "z3")}
	f := Facts{NodesKnown: true, Nodes: three}
	pinned := func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "a" }
	noAnti := func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Affinity = nil }
	tests := []struct {
		name     string
		old, sts *appsv1.StatefulSet
		want     []string
	}{
		{"5 → 4 replicas on 3 nodes: better, so only a warning", compliant(replicas(5)), compliant(replicas(4)),
			[]string{"InsufficientEligibleNodes warning spec.replicas"}},
		{"4 → 5 replicas on 3 nodes: worse, so an error", compliant(replicas(4)), compliant(replicas(5)),
			[]string{"InsufficientEligibleNodes error spec.replicas"}},
		{"nodeName pinned, 3 → 2 replicas: a warning", compliant(pinned), compliant(pinned, replicas(2)),
			[]string{"NodeNamePinned warning spec.template.spec.nodeName"}},
		{"no anti-affinity, 1 → 3 replicas: the scale-up is what makes co-location possible, so an error",
			statefulSet(noAnti, replicas(1)), statefulSet(noAnti),
			[]string{"AntiAffinityMissing error spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
				"TopologySpreadMissing warning spec.template.spec.topologySpreadConstraints",
				"StorageClassUnset warning spec.volumeClaimTemplates[0].spec.storageClassName"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, Request{Operation: Update, Object: tc.sts, OldObject: tc.old}, testPolicy(), f)
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEligibleNodesMatchesReference checks the early-stopping count against the plain one it
// replaced (checkEligibleNodesReference: every eligible node's domains counted in full) on
// random clusters: 0–2 required anti-affinity terms on hostname, zone or rack, nodes with and
// without each label, duplicate hostnames, cordoned nodes, replicas 0–4, anti-affinity Required
// and Off. Both must report the same violations, message included.
func TestEligibleNodesMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{corev1.LabelHostname, v1alpha1.ZoneTopologyKey, "rack"}
	for it := range 20000 {
		var terms []corev1.PodAffinityTerm
		for i := r.IntN(3); i > 0; i-- {
			term := ownTerm()
			term.TopologyKey = keys[r.IntN(3)]
			terms = append(terms, term)
		}
		sts := statefulSet(replicas(int32(r.IntN(5))))
		if len(terms) > 0 {
			withRequiredAnti(terms...)(sts)
		}
		var nodes []*corev1.Node
		for i := r.IntN(7); i > 0; i-- {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", r.IntN(4)), Labels: map[string]string{}}}
			if r.IntN(3) > 0 {
				n.Labels[corev1.LabelHostname] = fmt.Sprintf("n%d", r.IntN(4))
			}
			if r.IntN(4) > 0 {
				n.Labels[v1alpha1.ZoneTopologyKey] = fmt.Sprintf("z%d", r.IntN(3))
			}
			if r.IntN(4) > 0 {
				n.Labels["rack"] = fmt.Sprintf("r%d", r.IntN(3))
			}
			n.Spec.Unschedulable = r.IntN(5) == 0
			nodes = append(nodes, n)
		}
		p := testPolicy()
		if r.IntN(2) == 0 {
			p.Spec.AntiAffinity.Mode = v1alpha1.Off
		}
		facts := &Facts{NodesKnown: true, Nodes: nodes}
		newContext := func() *context {
			return &context{op: Create, policy: &p.Spec, facts: facts, sts: sts, replicas: *sts.Spec.Replicas, pods: sts.Spec.Selector}
		}
		want, got := newContext(), newContext()
		checkEligibleNodesReference(want)
		checkEligibleNodes(got)
		if diff := cmp.Diff(fmt.Sprint(want.found), fmt.Sprint(got.found)); diff != "" {
			var desc []string
			for _, n := range nodes {
				desc = append(desc, fmt.Sprintf("%s%v cordoned=%t", n.Name, n.Labels, n.Spec.Unschedulable))
			}
			t.Fatalf("case %d: replicas %d, mode %s, terms %v, nodes %v (-reference +got):\n%s",
				it, *sts.Spec.Replicas, p.Spec.AntiAffinity.Mode, terms, desc, diff)
		}
	}
}

// checkEligibleNodesReference is the rule as first written, the oracle for
// TestEligibleNodesMatchesReference: it lists every eligible node and counts every domain.
func checkEligibleNodesReference(c *context) {
	if !c.facts.NodesKnown || len(c.facts.Nodes) == 0 || !c.replicated() || c.pods == nil {
		return
	}
	eligible := EligibleNodes(c.podSpec(), c.facts.Nodes)
	anti := podAntiAffinity(c.podSpec())

	// The tightest required anti-affinity term over these pods decides how many domains exist.
	key, domains := v1alpha1.HostnameTopologyKey, -1
	if anti != nil {
		for i := range anti.RequiredDuringSchedulingIgnoredDuringExecution {
			t := &anti.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if !coversOwnPods(t, c.sts, c.facts.NamespaceLabels, false) {
				continue
			}
			n, ok := countDomainsReference(eligible, t.TopologyKey)
			if ok && (domains < 0 || n < domains) {
				key, domains = t.TopologyKey, n
			}
		}
	}
	if domains >= 0 {
		if int32(domains) < c.replicas {
			c.report(RuleInsufficientEligibleNodes, SeverityError, pathReplicas,
				"%d replicas need %d distinct %s values under required anti-affinity, but only %d eligible node(s) provide them "+
					"(after nodeSelector, node affinity, taints and tolerations, cordoned nodes, and DoNotSchedule spread keys), so %d replica(s) would stay Pending; "+
					"reduce spec.replicas to %d or make more nodes eligible",
				c.replicas, c.replicas, key, domains, c.replicas-int32(domains), domains)
		}
		return
	}
	if hosts := countHostsReference(eligible); int32(hosts) < c.replicas {
		sev := SeverityWarning
		if c.policy.AntiAffinity.Mode == v1alpha1.Required {
			sev = SeverityError
		}
		c.report(RuleInsufficientEligibleNodes, sev, pathReplicas,
			"%d replicas but only %d eligible node(s) (after nodeSelector, node affinity, taints and tolerations, cordoned nodes, and DoNotSchedule spread keys), "+
				"and no required anti-affinity keeps them apart, so replicas would share a node; reduce spec.replicas to %d or make more nodes eligible",
			c.replicas, hosts, hosts)
	}
}

// countDomainsReference counts the distinct values of key among the nodes. When a node lacks the key the
// scheduler places any number of replicas there, so no bound can be given.
func countDomainsReference(nodes []*corev1.Node, key string) (int, bool) {
	seen := sets.New[string]()
	for _, n := range nodes {
		v, ok := n.Labels[key]
		if !ok {
			if key != v1alpha1.HostnameTopologyKey {
				return 0, false
			}
			v = n.Name
		}
		seen.Insert(v)
	}
	return seen.Len(), true
}

func countHostsReference(nodes []*corev1.Node) int {
	seen := sets.New[string]()
	for _, n := range nodes {
		seen.Insert(NodeHostname(n))
	}
	return seen.Len()
}
