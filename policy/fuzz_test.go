package policy

import (
	"encoding/json"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/stowage-dev/stowage/internal/policyfile"
)

// FuzzEvaluate feeds arbitrary StatefulSets (decoded from fuzzed JSON, seeded with the fixtures
// and the corpus) to Evaluate, and checks it never panics and keeps its invariants: the input is
// untouched, the patch turns the input into the output, and a second pass changes nothing.
func FuzzEvaluate(f *testing.F) {
	for _, obj := range corpusObjects(f) {
		if sts, ok := obj.(*appsv1.StatefulSet); ok {
			b, _ := json.Marshal(sts)
			f.Add(b, uint8(0))
		}
	}
	for _, in := range []string{"testdata/node-affinity/too-few-hosts.in.yaml", "testdata/anti-affinity/match-expressions.in.yaml"} {
		if _, err := os.Stat(in); err == nil {
			f.Add([]byte(`{"spec":{"replicas":3,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}}}}}`), uint8(1))
		}
	}
	f.Add([]byte(`{"spec":{"selector":{"matchExpressions":[{"key":"a","operator":"In"}]}}}`), uint8(2))
	nodes := []*corev1.Node{node("a", "z1"), node("b", "z2", cordoned)}
	p := policyfile.Default()
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		sts := &appsv1.StatefulSet{}
		if err := json.Unmarshal(data, sts); err != nil {
			return
		}
		facts := Facts{}
		if mode&1 == 1 {
			facts = Facts{NodesKnown: true, Nodes: nodes, PDBs: []*policyv1.PodDisruptionBudget{budget("x")}}
		}
		if mode&2 == 2 {
			old := sts.DeepCopy()
			old.Spec.Replicas = nil
			evaluate(t, Request{Operation: Update, Object: sts, OldObject: old}, p, facts)
			return
		}
		evaluate(t, Request{Operation: Create, Object: sts}, p, facts)
	})
}
