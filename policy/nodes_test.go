package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// inTerm is a required node affinity with one term: key In (or NotIn) the values.
func inTerm(op corev1.NodeSelectorOperator, key string, values ...string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}},
			}}},
		}}
	}
}

// Cutting long value lists down to the values the nodes carry must not change a single answer
// of the scheduler's matching: In and NotIn, short and long lists, lists no node matches, lists
// with a value that is no valid label value, labelled and unlabelled nodes.
func TestNodeFilterForAgreesWithScheduler(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var nodes []*corev1.Node
	for i := range 300 {
		n := node(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i%40))
		if i%7 == 0 {
			delete(n.Labels, corev1.LabelTopologyZone)
		}
		nodes = append(nodes, n)
	}
	for _, size := range []int{1, longValueList - 1, longValueList, 100, 1000} {
		for _, op := range []corev1.NodeSelectorOperator{corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn} {
			for _, kind := range []string{"mixed", "none carried", "with an invalid value"} {
				values := make([]string, size)
				for i := range values {
					switch kind {
					case "mixed":
						values[i] = fmt.Sprintf("z%d", rng.IntN(80))
					default:
						values[i] = fmt.Sprintf("elsewhere-%d", i)
					}
				}
				if kind == "with an invalid value" {
					values[size/2] = "not a label value!"
				}
				sts := statefulSet(inTerm(op, corev1.LabelTopologyZone, values...))
				spec := &sts.Spec.Template.Spec
				before := sts.DeepCopy()
				plain, cut := newNodeFilter(spec), newNodeFilterFor(spec, nodes)
				for _, n := range nodes {
					if got, want := cut.eligible(n), plain.eligible(n); got != want {
						t.Fatalf("%s, %d values (%s), node %s (zone %q): eligible %t, the scheduler's matching says %t",
							op, size, kind, n.Name, n.Labels[corev1.LabelTopologyZone], got, want)
					}
				}
				if len(sts.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values) != size ||
					sts.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != before.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] {
					t.Fatal("newNodeFilterFor modified the spec")
				}
			}
		}
	}
}

// With Facts.Done closed, Evaluate returns ErrStopped instead of a result judged on part of
// the nodes (which would count too few eligible nodes and deny wrongly).
func TestEvaluateStopsWhenDone(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 2000 {
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), "z1"))
	}
	sts := statefulSet(inTerm(corev1.NodeSelectorOpIn, corev1.LabelTopologyZone, "nowhere"))
	done := make(chan struct{})
	close(done)
	_, err := Evaluate(Request{Operation: Create, Phase: Validate, Object: sts}, testPolicy(), Facts{NodesKnown: true, Nodes: nodes, Done: done})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("Evaluate after Done = %v, want ErrStopped", err)
	}
	res, err := Evaluate(Request{Operation: Create, Phase: Validate, Object: sts}, testPolicy(), Facts{NodesKnown: true, Nodes: nodes, Done: make(chan struct{})})
	if err != nil || res == nil {
		t.Fatalf("Evaluate with Done open = %v, %v; want a result", res, err)
	}
}

// plainLabelValue never calls a value valid that Kubernetes' validation refuses.
func TestPlainLabelValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := "aZ09-_.!/ é"
	cases := []string{"", "a", "-a", "a-", "a.b_c-d", "_", strings.Repeat("a", 63), strings.Repeat("a", 64), "a b", "é"}
	for range 20000 {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, v := range cases {
		if plainLabelValue(v) && len(validation.IsValidLabelValue(v)) > 0 {
			t.Fatalf("plainLabelValue(%q) is true, but the validation refuses it", v)
		}
	}
	for _, v := range []string{"", "a", "a.b_c-d", strings.Repeat("a", 63), "zone-000001"} {
		if !plainLabelValue(v) {
			t.Errorf("plainLabelValue(%q) is false for a plain valid value", v)
		}
	}
}

// BenchmarkManyNodeAffinityTerms is a required node affinity of 10,000 ORed terms of 10
// hostnames each (about half a megabyte of JSON), validated. Uniting each term's hosts into a
// fresh set made this quadratic: about 6 s for 2,000 terms; in place it is linear.
func BenchmarkManyNodeAffinityTerms(b *testing.B) {
	var terms []corev1.NodeSelectorTerm
	for i := range 10000 {
		vals := make([]string, 10)
		for j := range vals {
			vals[j] = fmt.Sprintf("host-%d-%d", i, j)
		}
		terms = append(terms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: vals}}})
	}
	sts := statefulSet()
	sts.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	p := testPolicy()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(Request{Operation: Create, Phase: Validate, Object: sts}, p, Facts{}); err != nil {
			b.Fatal(err)
		}
	}
}
