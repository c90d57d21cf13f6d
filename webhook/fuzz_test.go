package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzServeHTTP sends arbitrary bodies to both endpoints. Whatever arrives, the handler must
// answer with a 4xx or a well-formed AdmissionReview that echoes the UID, must never reach
// its panic recovery, and must admit an operator custom resource unchanged.
func FuzzServeHTTP(f *testing.F) {
	sts := galera(f)
	f.Add(review(f, admissionv1.Create, statefulSetsGVR, "", sts, nil))
	f.Add(review(f, admissionv1.Update, statefulSetsGVR, "", pinned(f), sts))
	f.Add(review(f, admissionv1.Update, statefulSetsGVR, "scale", &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 9}}, &autoscalingv1.Scale{}))
	f.Add(review(f, admissionv1.Create, claimsGVR, "", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, nil))
	f.Add(review(f, admissionv1.Delete, statefulSetsGVR, "", nil, nil))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","resource":{"group":"apps","version":"v1","resource":"statefulsets"},"operation":"CREATE","object":{"spec":{"replicas":"3"}}}}`))
	// Operator custom resources (the raw create-prometheus/create-alertmanager reviews come
	// with the fixtures below).
	f.Add(crReview(f, admissionv1.Create, promCR, ""))
	f.Add(crReview(f, admissionv1.Update, strings.Replace(promCR, "replicas: 2", "replicas: 2\n  nodeSelector: {kubernetes.io/hostname: a}", 1), promCR))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"monitoring.coreos.com","version":"v1","kind":"Alertmanager"},"resource":{"group":"monitoring.coreos.com","version":"v1","resource":"alertmanagers"},"operation":"CREATE","object":{"metadata":{"name":"m"},"spec":{"replicas":"3","affinity":[],"storage":{"volumeClaimTemplate":{"spec":7}}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"monitoring.coreos.com","version":"v1","kind":"Prometheus"},"resource":{"group":"monitoring.coreos.com","version":"v1","resource":"prometheuses"},"operation":"UPDATE","object":{"metadata":{"name":"p"},"spec":{"podMetadata":{"labels":{"a":1}}}},"oldObject":[]}}`))
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "reviews", "*.json"))
	for _, file := range fixtures {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}

	var panics atomic.Int32
	log := funcr.New(func(prefix, args string) {
		if strings.Contains(args, "panicked") {
			panics.Add(1)
		}
	}, funcr.Options{})
	c := withPolicy()
	c.sts = sts
	handlers := []*Handler{
		{Mode: Mutating, Admitter: &Admitter{Cluster: c}, Log: log},
		{Mode: Validating, Admitter: &Admitter{Cluster: c}, Log: log},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range handlers {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if panics.Load() > 0 {
				t.Fatalf("%s endpoint panicked on %q", h.Mode, body)
			}
			switch w.Code {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
				continue
			case http.StatusOK:
			default:
				t.Fatalf("%s endpoint answered %d", h.Mode, w.Code)
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s endpoint answered 200 without a review: %v %s", h.Mode, err, w.Body)
			}
			var in admissionv1.AdmissionReview
			if decodeJSON(body, &in) == nil && in.Request != nil && out.Response.UID != in.Request.UID {
				t.Fatalf("UID %q not echoed (got %q)", in.Request.UID, out.Response.UID)
			}
			if in.Request != nil && customKind(in.Request) != nil && (!out.Response.Allowed || out.Response.Patch != nil) {
				t.Fatalf("%s endpoint denied or changed an operator resource: %s", h.Mode, w.Body)
			}
		}
	})
	_ = logr.Discard
}
