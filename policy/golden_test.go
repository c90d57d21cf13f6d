package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// Golden fixtures: testdata/<rule>/<case>.in.yaml holds the object under test (a StatefulSet or
// a PersistentVolumeClaim) and, optionally, a PlacementPolicy to use instead of the default, Nodes
// (which turn on the node-aware checks), PodDisruptionBudgets, and other StatefulSets of the
// namespace (annotated fixture.stowage.dev/role: fact). Evaluating it as a CREATE must
// give <case>.out.yaml (the mutated object, then the desired budget if any) and
// <case>.violations.yaml. A fixture with two objects under test is an UPDATE: the first is the
// stored object, the second the update. UPDATE_GOLDEN=1 rewrites the expected files.

type fixture struct {
	old    runtime.Object // the stored object of an UPDATE, or nil
	object runtime.Object
	policy *v1alpha1.PlacementPolicy
	facts  Facts
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fx := fixture{policy: policyfile.Default()}
	errs := stream.Read(path, data, func(d *stream.Document) error {
		var into runtime.Object
		switch d.Kind {
		case "StatefulSet":
			sts := &appsv1.StatefulSet{}
			decodeFixture(t, d, sts)
			if sts.Annotations["fixture.stowage.dev/role"] == "fact" {
				fx.facts.StatefulSets = append(fx.facts.StatefulSets, sts)
				return nil
			}
			into = &appsv1.StatefulSet{}
		case "PersistentVolumeClaim":
			into = &corev1.PersistentVolumeClaim{}
		case "Node":
			n := &corev1.Node{}
			decodeFixture(t, d, n)
			fx.facts.NodesKnown = true
			fx.facts.Nodes = append(fx.facts.Nodes, n)
			return nil
		case "PodDisruptionBudget":
			b := &policyv1.PodDisruptionBudget{}
			decodeFixture(t, d, b)
			fx.facts.PDBs = append(fx.facts.PDBs, b)
			return nil
		case "PlacementPolicy":
			ps, errs := policyfile.Load(path, d.Raw)
			if len(errs) > 0 {
				t.Fatalf("fixture policy: %v", errs)
			}
			fx.policy = ps[0]
			return nil
		default:
			t.Fatalf("%s:%d: unexpected kind %s in a fixture", path, d.Line, d.Kind)
		}
		if fx.old != nil {
			t.Fatalf("%s: more than two objects under test", path)
		}
		decodeFixture(t, d, into)
		fx.old, fx.object = fx.object, into
		return nil
	})
	if len(errs) > 0 || fx.object == nil {
		t.Fatalf("%s: %v (object found: %v)", path, errs, fx.object != nil)
	}
	return fx
}

func decodeFixture(t *testing.T, d *stream.Document, into any) {
	t.Helper()
	fieldErrs, err := stream.Decode(d, into)
	if err != nil || len(fieldErrs) > 0 {
		t.Fatalf("%s:%d: %v %v", d.Source, d.Line, err, fieldErrs)
	}
}

func fixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.in.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	update := os.Getenv("UPDATE_GOLDEN") == "1"
	for _, in := range fixtures(t) {
		name := strings.TrimSuffix(in, ".in.yaml")
		t.Run(strings.TrimPrefix(name, "testdata/"), func(t *testing.T) {
			fx := loadFixture(t, in)
			res := fx.evaluate(t)

			out := toYAML(t, res.Object)
			if res.PDB != nil {
				out = append(append(out, "---\n"...), toYAML(t, res.PDB)...)
			}
			type violation struct {
				Rule     RuleID   `json:"rule"`
				Field    string   `json:"field"`
				Severity Severity `json:"severity"`
				Message  string   `json:"message"`
			}
			vs := []violation{}
			for _, v := range res.Violations {
				vs = append(vs, violation{v.Rule, v.Field.String(), v.Severity, v.Message})
			}
			compareGolden(t, name+".out.yaml", out, update)
			compareGolden(t, name+".violations.yaml", toYAML(t, vs), update)
		})
	}
}

func toYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compareGolden(t *testing.T, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is out of date (UPDATE_GOLDEN=1 rewrites it) (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// evaluate runs the fixture: a CREATE, or an UPDATE of the stored object.
func (fx fixture) evaluate(t *testing.T) *Result {
	t.Helper()
	if fx.old != nil {
		return evaluate(t, Request{Operation: Update, Object: fx.object, OldObject: fx.old}, fx.policy, fx.facts)
	}
	return create(t, fx.object, fx.policy, fx.facts)
}
