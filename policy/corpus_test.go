package policy

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// corpusObjects decodes every StatefulSet and PersistentVolumeClaim of the shared corpus.
func corpusObjects(tb testing.TB) map[string]runtime.Object {
	tb.Helper()
	out := map[string]runtime.Object{}
	for _, f := range testcorpus.Files(tb) {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		errs := stream.Read(f, data, func(d *stream.Document) error {
			var obj runtime.Object
			switch d.Kind {
			case "StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			default:
				return nil
			}
			if fe, err := stream.Decode(d, obj); err != nil || len(fe) > 0 {
				tb.Fatalf("%s:%d: %v %v", f, d.Line, err, fe)
			}
			out[filepath.Base(f)+"/"+d.Kind+"/"+d.Name] = obj
			return nil
		})
		if len(errs) > 0 {
			tb.Fatalf("%s: %v", f, errs)
		}
	}
	return out
}

// TestCorpusProperties evaluates every corpus object as a CREATE and checks, besides the
// invariants in evaluate (input untouched, patch correct, idempotent), that every StatefulSet
// comes out with hard hostname anti-affinity over its own pods, spread, and the class filled.
func TestCorpusProperties(t *testing.T) {
	objs := corpusObjects(t)
	statefulSets := 0
	for name, obj := range objs {
		t.Run(name, func(t *testing.T) {
			res := create(t, obj, policyfile.Default(), Facts{})
			for _, v := range res.Violations {
				if v.Severity == SeverityError {
					t.Errorf("corpus object rejected: %s %s: %s", v.Rule, v.Field, v.Message)
				}
			}
			sts, ok := obj.(*appsv1.StatefulSet)
			if !ok {
				if c := res.PersistentVolumeClaim().Spec.StorageClassName; c == nil || *c != v1alpha1.DefaultStorageClassName {
					t.Errorf("claim class = %v", c)
				}
				return
			}
			statefulSets++
			out := res.StatefulSet()
			if !HostnameAntiAffinity(out, nil) {
				t.Error("no required hostname anti-affinity over its own pods")
			}
			if !hasSpreadKey(&out.Spec.Template.Spec, v1alpha1.ZoneTopologyKey) {
				t.Error("no zone spread constraint")
			}
			for i, vct := range sts.Spec.VolumeClaimTemplates {
				if vct.Spec.StorageClassName == nil {
					if got := out.Spec.VolumeClaimTemplates[i].Spec.StorageClassName; got == nil || *got != v1alpha1.DefaultStorageClassName {
						t.Errorf("volumeClaimTemplates[%d] class = %v", i, got)
					}
				}
			}
		})
	}
	if statefulSets != 30 {
		t.Errorf("the corpus has %d StatefulSets, want 30", statefulSets)
	}
}

// TestFixturesAreIdempotent runs the same property over every golden fixture's output.
func TestFixturesAreIdempotent(t *testing.T) {
	for _, in := range fixtures(t) {
		t.Run(in, func(t *testing.T) {
			fx := loadFixture(t, in)
			first := create(t, fx.object, fx.policy, fx.facts)
			second := create(t, first.Object, fx.policy, fx.facts)
			if len(second.Patch) != 0 {
				t.Fatalf("second pass patched: %v", second.Patch)
			}
		})
	}
}
