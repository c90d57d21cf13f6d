package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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

func benchServe(b *testing.B, h http.Handler, body []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/mutate?timeout=3s", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkServeHTTP is Stowage's mutating endpoint on the largest corpus StatefulSet.
func BenchmarkServeHTTP(b *testing.B) {
	body := review(b, admissionv1.Create, statefulSetsGVR, "", largestStatefulSet(b), nil)
	benchServe(b, newTestHandler(Mutating, withPolicy()), body)
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
	benchServe(b, wh, body)
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
		r := &admissionv1.AdmissionReview{}
		if err := decodeJSON(body, r); err != nil {
			b.Fatal(err)
		}
		if _, _, ok := decodeObject(statefulSetsGVR, r.Request.Object.Raw); !ok {
			b.Fatal("not decoded")
		}
	}
}
