package webhook

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/stowage-dev/stowage/policy"
)

// A StatefulSet's admission never lists its namespace's StatefulSets, and only the validating
// phase lists the nodes: the lists a request pays for grow with the cluster.
func TestFactsReadOnlyWhatTheAdmissionNeeds(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg"}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "data-pg-0"}}
	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(
		sts.DeepCopy(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}).Build()
	c := &CacheCluster{Reader: reader}
	tests := []struct {
		obj               runtime.Object
		phase             policy.Phase
		want              Need
		statefulSets      int
		nodes, nodesKnown bool
	}{
		{sts, policy.Mutate, NeedNothingElse, 0, false, false},
		{sts, policy.Validate, NeedNodes, 0, true, true},
		{claim, policy.Mutate, NeedStatefulSets, 1, false, false},
		{claim, policy.Validate, NeedStatefulSets, 1, false, false},
	}
	for _, tc := range tests {
		got := need(tc.obj, tc.phase)
		if got != tc.want {
			t.Errorf("need(%T, %s) = %d, want %d", tc.obj, tc.phase, got, tc.want)
		}
		f, err := c.Facts(context.Background(), "db", got)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.StatefulSets) != tc.statefulSets || (len(f.Nodes) > 0) != tc.nodes || f.NodesKnown != tc.nodesKnown {
			t.Errorf("%T in %s: %d StatefulSets, %d nodes (known %v); want %d, nodes %v", tc.obj, tc.phase,
				len(f.StatefulSets), len(f.Nodes), f.NodesKnown, tc.statefulSets, tc.nodes)
		}
	}
}
