package enqueue

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func sts(ns, name string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func req(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func TestStatefulSets(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).
		WithObjects(sts("a", "db"), sts("a", "cache"), sts("b", "db")).Build()
	onlyDB := func(s *appsv1.StatefulSet) bool { return s.Name == "db" }
	tests := []struct {
		name string
		keep func(*appsv1.StatefulSet) bool
		opts []client.ListOption
		want []reconcile.Request
	}{
		{"no filter, no options → every StatefulSet", nil, nil, []reconcile.Request{req("a", "cache"), req("a", "db"), req("b", "db")}},
		{"in namespace a → its two", nil, []client.ListOption{client.InNamespace("a")}, []reconcile.Request{req("a", "cache"), req("a", "db")}},
		{"keep names db → one per namespace", onlyDB, nil, []reconcile.Request{req("a", "db"), req("b", "db")}},
		{"keep and namespace together", onlyDB, []client.ListOption{client.InNamespace("b")}, []reconcile.Request{req("b", "db")}},
		{"nothing kept → no request", func(*appsv1.StatefulSet) bool { return false }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StatefulSets(context.Background(), c, tt.keep, tt.opts...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllWakesEveryStatefulSet(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(sts("a", "db"), sts("b", "db")).Build()
	got := All(c)(context.Background(), sts("c", "unrelated"))
	if diff := cmp.Diff([]reconcile.Request{req("a", "db"), req("b", "db")}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStatefulSetsListFails(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(sts("a", "db")).
		WithInterceptorFuncs(interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("cache not synced")
		}}).Build()
	if got := StatefulSets(context.Background(), c, nil); got != nil {
		t.Errorf("a failed list woke %v, want nothing", got)
	}
}
