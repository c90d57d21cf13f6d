package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/policyfile"
)

// crdValidator validates an object the way the API server validates a PlacementPolicy on
// create: structural defaults, then the OpenAPI schema, then every x-kubernetes-validations
// (CEL) rule, with the API server's own code and cost limits.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func newCRDValidator(t *testing.T) *crdValidator {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("chart", "crds", "stowage.dev_placementpolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
		t.Fatalf("the CRD has %d versions; want one with a schema", len(crd.Spec.Versions))
	}
	var internal apiextensionsinternal.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatalf("the CRD schema is not structural: %v", err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		t.Fatal(err)
	}
	return &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
}

func (v *crdValidator) validate(obj map[string]any) field.ErrorList {
	structuraldefaulting.Default(obj, v.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, v.schema)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// TestCRDAgreesWithValidate feeds one table of policies to the API server's CRD validation
// and to the Go path every Stowage command takes (policyfile.Load: strict decoding,
// SetDefaults, Validate), and requires the same verdict. A spec the API server stores but Go
// rejects would leave a policy the webhook cannot use; a spec Go accepts but the API server
// rejects would pass `stowage check --policy` and fail at `kubectl apply`.
func TestCRDAgreesWithValidate(t *testing.T) {
	v := newCRDValidator(t)
	tests := []struct {
		name  string
		spec  string // the policy's spec, YAML
		valid bool
	}{
		{name: "empty spec", spec: `{}`, valid: true},
		{name: "recovery omitted mode", spec: `recovery: {}`, valid: true},
		{name: "recovery Off", spec: `recovery: {mode: "Off"}`, valid: true},
		{name: "recovery Manual", spec: `recovery: {mode: Manual}`, valid: true},
		{name: "recovery Automatic, every field", spec: `recovery: {mode: Automatic, nodeNotReadyAfter: 10m, minHealthy: 2}`, valid: true},
		{name: "recovery mode lower case", spec: `recovery: {mode: automatic}`},
		{name: "recovery mode unknown", spec: `recovery: {mode: Sometimes}`},
		{name: "nodeNotReadyAfter exactly 1m", spec: `recovery: {nodeNotReadyAfter: 1m}`, valid: true},
		{name: "nodeNotReadyAfter 60s", spec: `recovery: {nodeNotReadyAfter: 60s}`, valid: true},
		{name: "nodeNotReadyAfter 1h30m", spec: `recovery: {nodeNotReadyAfter: 1h30m}`, valid: true},
		{name: "nodeNotReadyAfter 59s", spec: `recovery: {nodeNotReadyAfter: 59s}`},
		{name: "nodeNotReadyAfter 0s", spec: `recovery: {nodeNotReadyAfter: 0s}`},
		{name: "nodeNotReadyAfter negative", spec: `recovery: {nodeNotReadyAfter: -5m}`},
		{name: "nodeNotReadyAfter without unit", spec: `recovery: {nodeNotReadyAfter: "600"}`},
		{name: "nodeNotReadyAfter in days", spec: `recovery: {nodeNotReadyAfter: 1d}`},
		{name: "nodeNotReadyAfter garbage", spec: `recovery: {nodeNotReadyAfter: soon}`},
		{name: "nodeNotReadyAfter a number", spec: `recovery: {nodeNotReadyAfter: 600}`},
		{name: "minHealthy 1", spec: `recovery: {minHealthy: 1}`, valid: true},
		{name: "minHealthy 0", spec: `recovery: {minHealthy: 0}`},
		{name: "minHealthy -1", spec: `recovery: {minHealthy: -1}`},
		{name: "minHealthy a string", spec: `recovery: {minHealthy: "2"}`},
		{name: "recovery a list", spec: `recovery: [Automatic]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: stowage.dev/v1alpha1\nkind: PlacementPolicy\nmetadata: {name: p}\nspec:\n  %s\n",
				strings.ReplaceAll(tt.spec, "\n", "\n  "))
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatal(err)
			}
			crdErrs := v.validate(obj)
			_, goErrs := policyfile.Load("p.yaml", []byte(doc))
			if crdOK := len(crdErrs) == 0; crdOK != tt.valid {
				t.Errorf("API server: valid = %v, want %v; errors: %v", crdOK, tt.valid, crdErrs)
			}
			if goOK := len(goErrs) == 0; goOK != tt.valid {
				t.Errorf("Go validation: valid = %v, want %v; errors: %v", goOK, tt.valid, goErrs)
			}
		})
	}
}
