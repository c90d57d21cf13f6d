package policy

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/stowage-dev/stowage/internal/policyfile"
)

// largestCorpusStatefulSet returns the corpus StatefulSet with the largest JSON form.
func largestCorpusStatefulSet(b *testing.B) (string, *appsv1.StatefulSet) {
	var name string
	var best *appsv1.StatefulSet
	size := 0
	for n, obj := range corpusObjects(b) {
		sts, ok := obj.(*appsv1.StatefulSet)
		if !ok {
			continue
		}
		data, _ := json.Marshal(sts)
		if len(data) > size || len(data) == size && n < name {
			name, best, size = n, sts, len(data)
		}
	}
	b.Logf("largest corpus StatefulSet: %s (%d bytes of JSON)", name, size)
	return name, best
}

// BenchmarkEvaluate measures a CREATE of the largest corpus StatefulSet: deep copy, mutation,
// patch and every check. Target: under 50 µs and 200 allocations.
func BenchmarkEvaluate(b *testing.B) {
	_, sts := largestCorpusStatefulSet(b)
	p := policyfile.Default()
	facts := Facts{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(Request{Operation: Create, Object: sts}, p, facts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateCompliant measures the common webhook case of an object that needs nothing.
func BenchmarkEvaluateCompliant(b *testing.B) {
	_, sts := largestCorpusStatefulSet(b)
	p := policyfile.Default()
	res, err := Evaluate(Request{Operation: Create, Object: sts}, p, Facts{})
	if err != nil {
		b.Fatal(err)
	}
	out := res.Object
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(Request{Operation: Create, Object: out}, p, Facts{}); err != nil {
			b.Fatal(err)
		}
	}
}
