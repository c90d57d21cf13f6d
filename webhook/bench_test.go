package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
)

// largestStatefulSet is the largest StatefulSet of the corpus (Kafka's controller).
func largestStatefulSet(b *testing.B) *appsv1.StatefulSet {
	var best *appsv1.StatefulSet
	size := 0
	for _, f := range testcorpus.Files(b) {
		for _, s := range statefulSetsIn(b, f) {
			data, _ := json.Marshal(s)
			if len(data) > size {
				best, size = s, len(data)
			}
		}
	}
	return best
}

// benchServe serves body to h in a loop; every answer must be a 200 that contains want.
func benchServe(b *testing.B, h http.Handler, body []byte, want string) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	defer reportCPU(b)()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/mutate?timeout=3s", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(want)) {
			b.Fatalf("%d %.300s", w.Code, w.Body)
		}
	}
}

// reportCPU adds the process's CPU time per operation (cpu-ns/op), garbage collection included,
// when the returned function is called after the loop. On a machine shared with other work the
// wall time per operation (ns/op) counts the waits for a CPU too; this does not.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkServeHTTP is Stowage's mutating endpoint on the largest corpus StatefulSet.
func BenchmarkServeHTTP(b *testing.B) {
	body := review(b, admissionv1.Create, statefulSetsGVR, "", largestStatefulSet(b), nil)
	benchServe(b, newTestHandler(Mutating, withPolicy()), body, `"patch"`)
}

// BenchmarkControllerRuntimeDefaulter is the same mutation through controller-runtime's
// generic path: decode into a typed object, deep copy, default (here: run the same engine and
// take its output), marshal, and jsonpatch.CreatePatch of the whole object.
func BenchmarkControllerRuntimeDefaulter(b *testing.B) {
	body := review(b, admissionv1.Create, statefulSetsGVR, "", largestStatefulSet(b), nil)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	p := policyfile.Default()
	defaulter := defaulterFunc(func(_ context.Context, obj *appsv1.StatefulSet) error {
		res, err := policy.Evaluate(policy.Request{Operation: policy.Create, Object: obj}, p, policy.Facts{})
		if err != nil {
			return err
		}
		res.StatefulSet().DeepCopyInto(obj)
		return nil
	})
	wh := admission.WithDefaulter[*appsv1.StatefulSet](scheme, defaulter)
	benchServe(b, wh, body, `"patch"`)
}

type defaulterFunc func(context.Context, *appsv1.StatefulSet) error

func (f defaulterFunc) Default(ctx context.Context, obj *appsv1.StatefulSet) error {
	return f(ctx, obj)
}

// BenchmarkDecodeReview is the decoding of an AdmissionReview with the largest corpus
// StatefulSet, and of the StatefulSet in it: the part of a request the JSON decoder does.
func BenchmarkDecodeReview(b *testing.B) {
	body := review(b, admissionv1.Create, statefulSetsGVR, "", largestStatefulSet(b), nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := decodeReview(body)
		if err != nil {
			b.Fatal(err)
		}
		if obj, _, ok := decodeObject(statefulSetsGVR, r.Request.Object); !ok || obj == nil {
			b.Fatal("not decoded")
		}
	}
}

// wideAffinity is the CPU attack of issue 9: a StatefulSet whose required node affinity has one
// In term with 100,000 values, none of them a node's, judged against 2,000 nodes.
func wideAffinity(b *testing.B) (*appsv1.StatefulSet, *staticCluster) {
	sts := galera(b)
	values := make([]string, 100_000)
	for i := range values {
		values[i] = fmt.Sprintf("zone-%06d", i)
	}
	sts.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: values}},
		}}},
	}}
	c := withPolicy()
	c.facts.NodesKnown = true
	for i := range 2000 {
		c.facts.Nodes = append(c.facts.Nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("node-%04d", i),
			Labels: map[string]string{corev1.LabelHostname: fmt.Sprintf("node-%04d", i), corev1.LabelTopologyZone: fmt.Sprintf("z%d", i%3)},
		}})
	}
	return sts, c
}

// BenchmarkWideNodeAffinity runs the whole handler (decode, evaluate, answer) on that review:
// CREATE and UPDATE on the validating endpoint, and CREATE on the mutating one, which computes
// only its patch. The cost is bounded by the input's size plus nodes times requirements, not
// values times nodes.
func BenchmarkWideNodeAffinity(b *testing.B) {
	sts, c := wideAffinity(b)
	old := sts.DeepCopy()
	old.Spec.Replicas = ptr.To(int32(2))
	for _, bc := range []struct {
		name string
		mode Mode
		op   admissionv1.Operation
		old  *appsv1.StatefulSet
	}{
		{"validate CREATE", Validating, admissionv1.Create, nil},
		{"validate UPDATE", Validating, admissionv1.Update, old},
		{"mutate CREATE", Mutating, admissionv1.Create, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var oldObj runtime.Object
			if bc.old != nil {
				oldObj = bc.old
			}
			body := review(b, bc.op, statefulSetsGVR, "", sts, oldObj)
			h := newTestHandler(bc.mode, c)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/x?timeout=10s", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"uid":"uid-42"`)) {
					b.Fatalf("%d %.300s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkServeHTTPValidate is Stowage's validating endpoint on the largest corpus StatefulSet,
// the other half of every StatefulSet CREATE.
func BenchmarkServeHTTPValidate(b *testing.B) {
	body := review(b, admissionv1.Create, statefulSetsGVR, "", largestStatefulSet(b), nil)
	benchServe(b, newTestHandler(Validating, withPolicy()), body, `"uid":"uid-42"`)
}

// BenchmarkOperatorResource is the validating endpoint on the raw Prometheus CREATE of
// testdata/reviews: decode, project, the engine's CREATE and BACKGROUND evaluations, and the
// warnings.
func BenchmarkOperatorResource(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "reviews", "create-prometheus.json"))
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, newTestHandler(Validating, threeNodes()), body, `"warnings"`)
}
