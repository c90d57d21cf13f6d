package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/stream"
)

// promOperatorCRDs is the folder of prometheus-operator's CRDs that `make tools` copies from
// the pinned module: crds/ next to $STOWAGE_PROMETHEUS_OPERATOR, else under bin/.
func promOperatorCRDs(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("STOWAGE_PROMETHEUS_OPERATOR")
	if bin == "" {
		bin = "../bin/prometheus-operator-v0.85.0/prometheus-operator"
	}
	dir := filepath.Join(filepath.Dir(bin), "crds")
	if _, err := os.Stat(filepath.Join(dir, "monitoring.coreos.com_prometheuses.yaml")); err != nil {
		t.Fatalf("prometheus-operator's CRDs: %v; run `make tools` or set STOWAGE_PROMETHEUS_OPERATOR", err)
	}
	return dir
}

type crdSchema struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

// loadSchemas reads the served versions' schemas of every CRD in dir, by group/version/kind.
func loadSchemas(t *testing.T, dir string) map[string]crdSchema {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	out := map[string]crdSchema{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		errs := stream.Read(f, data, func(d *stream.Document) error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if _, err := stream.Decode(d, crd); err != nil {
				return err
			}
			for _, v := range crd.Spec.Versions {
				if !v.Served || v.Schema == nil {
					continue
				}
				internal := &apiextensions.JSONSchemaProps{}
				if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
					return err
				}
				validator, _, err := validation.NewSchemaValidator(internal)
				if err != nil {
					return err
				}
				structural, err := structuralschema.NewStructural(internal)
				if err != nil {
					return err
				}
				out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = crdSchema{validator, structural}
			}
			return nil
		})
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
	}
	return out
}

// The operator fixtures, and what `check --fix` makes of them, are valid custom resources
// under the CRDs of the pinned prometheus-operator: the schema accepts them and nothing in
// them would be pruned as unknown. So the fixtures say what a real rendering can say, and the
// fields Stowage writes into a resource are fields the operator reads.
func TestOperatorFixturesMatchTheCRDs(t *testing.T) {
	validateFixtures(t, loadSchemas(t, promOperatorCRDs(t)), "monitoring.coreos.com")
}

// The same for the other operators, against the parts of their published CRDs stored in
// testdata/operators/crds (trimmed by hack/trimcrd; each file names its source and version).
func TestOperatorFixturesMatchTheStoredCRDs(t *testing.T) {
	schemas := loadSchemas(t, "testdata/operators/crds")
	for _, group := range []string{"elasticsearch.k8s.elastic.co", "rabbitmq.com", "k8s.mariadb.com", "kafka.strimzi.io"} {
		validateFixtures(t, schemas, group)
	}
}

// validateFixtures validates every resource of the table in group found in the fixtures, and
// in what --fix makes of them, against schemas.
func validateFixtures(t *testing.T, schemas map[string]crdSchema, group string) {
	t.Helper()
	fixtures, _ := filepath.Glob("testdata/operators/*.yaml")
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata/operators")
	}
	total := 0
	for _, f := range fixtures {
		fixed := check(t, Options{Fix: true}, f).stdout
		for _, in := range []struct {
			name string
			data []byte
		}{{f, nil}, {f + " (fixed)", []byte(fixed)}} {
			data := in.data
			if data == nil {
				var err error
				if data, err = os.ReadFile(f); err != nil {
					t.Fatal(err)
				}
			}
			errs := stream.Read(in.name, data, func(d *stream.Document) error {
				if operatorcr.Lookup(d.APIVersion, d.Kind) == nil || !strings.HasPrefix(d.APIVersion, group+"/") {
					return nil
				}
				total++
				s, ok := schemas[d.APIVersion+"/"+d.Kind]
				if !ok {
					t.Errorf("%s: no served CRD schema for %s %s", in.name, d.APIVersion, d.Kind)
					return nil
				}
				j, err := stream.ToJSON(nil, d.Node)
				if err != nil {
					return err
				}
				var obj map[string]any
				if err := json.Unmarshal(j, &obj); err != nil {
					return err
				}
				for _, e := range validation.ValidateCustomResource(nil, obj, s.validator) {
					t.Errorf("%s:%d: %s %s: %v", in.name, d.Line, d.Kind, d.Name, e)
				}
				unknown := pruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
				for _, u := range unknown {
					if !strings.HasPrefix(u, "metadata.") { // metadata is pruned by ObjectMeta, not the schema
						t.Errorf("%s:%d: %s %s: unknown field %s", in.name, d.Line, d.Kind, d.Name, u)
					}
				}
				return nil
			})
			if len(errs) > 0 {
				t.Fatalf("%s: %v", in.name, errs)
			}
		}
	}
	if total == 0 {
		t.Errorf("no %s resource in the fixtures", group)
	}
}
