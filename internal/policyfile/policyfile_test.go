package policyfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestDefaultIsTheDefaultedPolicyNamedDefault(t *testing.T) {
	want := &v1alpha1.PlacementPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "stowage.dev/v1alpha1", Kind: "PlacementPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}
	v1alpha1.SetDefaults(want)
	// default.yaml writes `namespaces: []` to show that no namespace may opt out; that is the
	// same as leaving the list out.
	if diff := cmp.Diff(want, Default(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Default() is not the defaulted policy named default (-want +got):\n%s", diff)
	}
}

func TestDefaultYAMLStatesEveryDefault(t *testing.T) {
	// Decoded without SetDefaults, the embedded YAML must already hold every default, so that
	// it documents them: defaulting it changes nothing.
	var raw *v1alpha1.PlacementPolicy
	errs := stream.Read("default.yaml", DefaultYAML(), func(d *stream.Document) error {
		raw = &v1alpha1.PlacementPolicy{}
		fe, err := stream.Decode(d, raw)
		if err != nil || len(fe) > 0 {
			t.Fatalf("decoding default.yaml: %v %v", err, fe)
		}
		return nil
	})
	if len(errs) > 0 || raw == nil {
		t.Fatalf("reading default.yaml: %v", errs)
	}
	defaulted := raw.DeepCopy()
	v1alpha1.SetDefaults(defaulted)
	if diff := cmp.Diff(defaulted, raw); diff != "" {
		t.Errorf("default.yaml leaves defaults unstated (-defaulted +as written):\n%s", diff)
	}
	if errs := v1alpha1.Validate(raw); len(errs) > 0 {
		t.Errorf("default.yaml is invalid: %v", errs)
	}
}

func TestDefaultReturnsFreshCopies(t *testing.T) {
	a := Default()
	a.Spec.Storage.ClassName = "changed"
	a.Spec.TopologySpread.Constraints[0].MaxSkew = 9
	b := Default()
	if b.Spec.Storage.ClassName != v1alpha1.DefaultStorageClassName || b.Spec.TopologySpread.Constraints[0].MaxSkew != 1 {
		t.Errorf("changing one Default() changed the next: %+v", b.Spec)
	}
	y := DefaultYAML()
	y[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML returns the embedded bytes themselves")
	}
}

const header = "apiVersion: stowage.dev/v1alpha1\nkind: PlacementPolicy\n"

func policy(name, spec string) string {
	return header + "metadata:\n  name: " + name + "\nspec:\n" + spec
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		names []string // the policies returned
		errs  []string // "line: fragment"
	}{
		{
			name:  "one policy with a few fields → defaulted and returned",
			src:   policy("db", "  enforcementAction: Warn\n  storage:\n    className: fast\n"),
			names: []string{"db"},
		},
		{
			name:  "two policies in one stream → both returned, in order",
			src:   policy("a", "  priority: 1\n") + "---\n" + policy("b", "  priority: 2\n"),
			names: []string{"a", "b"},
		},
		{
			name:  "a PlacementPolicyList → every item returned",
			src:   "apiVersion: stowage.dev/v1alpha1\nkind: PlacementPolicyList\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(policy("a", "  priority: 1\n"), "\n"), "\n", "\n  ") + "\n",
			names: []string{"a"},
		},
		{
			name:  "JSON policy → returned",
			src:   `{"apiVersion": "stowage.dev/v1alpha1", "kind": "PlacementPolicy", "metadata": {"name": "j"}, "spec": {"priority": 3}}`,
			names: []string{"j"},
		},
		{
			name: "empty file → no policies and no errors",
			src:  "",
		},
		{
			name: "file with only comments and markers → no policies and no errors",
			src:  "# nothing yet\n---\n---\n",
		},
		{
			name: "unknown field → error naming the field and its line; the policy is not returned",
			src:  policy("db", "  storage:\n    classname: fast\n"),
			errs: []string{`7: policy db: unknown field "spec.storage.classname"`},
		},
		{
			name:  "unknown field in one policy → the next policy is still returned",
			src:   policy("bad", "  antiAfinity: {}\n") + "---\n" + policy("good", "  priority: 1\n"),
			names: []string{"good"},
			errs:  []string{`6: policy bad: unknown field "spec.antiAfinity"`},
		},
		{
			name: "same name twice → error at the second, which is dropped",
			src:  policy("db", "  priority: 1\n") + "---\n" + policy("db", "  priority: 2\n"),
			errs: []string{"8: policy db is defined twice (first at line 1)"},
			// The first one is kept.
			names: []string{"db"},
		},
		{
			name:  "a document that is not a PlacementPolicy → error with what it is, policies around it kept",
			src:   policy("a", "  priority: 1\n") + "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: x\n",
			names: []string{"a"},
			errs:  []string{"8: expected apiVersion stowage.dev/v1alpha1 and kind PlacementPolicy, got apps/v1 StatefulSet"},
		},
		{
			name: "right kind, wrong version → error",
			src:  strings.Replace(policy("a", "  priority: 1\n"), "v1alpha1", "v1", 1),
			errs: []string{"1: expected apiVersion stowage.dev/v1alpha1 and kind PlacementPolicy, got stowage.dev/v1 PlacementPolicy"},
		},
		{
			name: "three invalid enum values in one policy → three errors, each at its own line",
			src:  policy("db", "  enforcementAction: Block\n  storage:\n    mode: Always\n  antiAffinity:\n    mode: Hard\n"),
			errs: []string{
				`6: policy db: spec.enforcementAction: Unsupported value: "Block"`,
				`8: policy db: spec.storage.mode: Unsupported value: "Always"`,
				`10: policy db: spec.antiAffinity.mode: Unsupported value: "Hard"`,
			},
		},
		{
			name: `maxUnavailable "0%" and a bad opt-out namespace → both reported with lines`,
			src:  policy("db", "  disruptionBudget:\n    maxUnavailable: \"0%\"\n  optOut:\n    namespaces: [ok, Not_OK]\n"),
			errs: []string{
				`7: policy db: spec.disruptionBudget.maxUnavailable: Invalid value: "0%"`,
				`9: policy db: spec.optOut.namespaces[1]: Invalid value: "Not_OK"`,
			},
		},
		{
			name: "allowedClassNames with the default mode → forbidden, at the list's line",
			src:  policy("db", "  storage:\n    allowedClassNames: [fast]\n"),
			errs: []string{"7: policy db: spec.storage.allowedClassNames: Forbidden"},
		},
		{
			name: "wrong type → error at the field's line",
			src:  policy("db", "  priority: high\n"),
			errs: []string{"6: policy db: field spec.priority must be of type int32, not string"},
		},
		{
			name: "duplicate key → error at the second, policy not returned",
			src:  policy("db", "  priority: 1\n  priority: 2\n"),
			errs: []string{`7: policy db: field "spec.priority" is set twice (first at line 6)`},
		},
		{
			name: "no name → required, and the message says the policy has none",
			src:  header + "spec: {}\n",
			errs: []string{"1: policy without a name: metadata.name: Required value"},
		},
		{
			name: "namespace on the policy → forbidden at its line",
			src:  header + "metadata:\n  name: a\n  namespace: data\n",
			errs: []string{"5: policy a: metadata.namespace: Forbidden"},
		},
		{
			name:  "broken YAML after a bad policy → errors in line order",
			src:   policy("bad", "  storage:\n    mode: Always\n") + "---\nkey: [unclosed\n---\n" + policy("good", "  priority: 1\n"),
			names: []string{"good"},
			errs: []string{
				`7: policy bad: spec.storage.mode: Unsupported value: "Always"`,
				"9: invalid YAML",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, errs := Load("p.yaml", []byte(tt.src))
			var names []string
			for _, p := range ps {
				names = append(names, p.Name)
				if verrs := v1alpha1.Validate(p); len(verrs) > 0 {
					t.Errorf("policy %s returned invalid: %v", p.Name, verrs)
				}
			}
			if diff := cmp.Diff(tt.names, names); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors = %q, want %d: %q", errs, len(tt.errs), tt.errs)
			}
			for i, e := range errs {
				var se *stream.Error
				if !errors.As(e, &se) || se.Source != "p.yaml" {
					t.Errorf("error %v is not a *stream.Error naming p.yaml", e)
					continue
				}
				if got := strings.TrimPrefix(e.Error(), "p.yaml:"); !strings.HasPrefix(got, tt.errs[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, got, tt.errs[i])
				}
			}
		})
	}
}

func TestLoadDefaultsWhatItReturns(t *testing.T) {
	ps, errs := Load("p.yaml", []byte(policy("db", "  topologySpread:\n    constraints: []\n  antiAffinity:\n    upgradePreferred: false\n")))
	if len(errs) > 0 || len(ps) != 1 {
		t.Fatalf("Load = %v, %v", ps, errs)
	}
	want := Default().Spec
	want.TopologySpread.Constraints = []v1alpha1.SpreadConstraint{} // explicitly none: kept
	f := false
	want.AntiAffinity.UpgradePreferred = &f
	if diff := cmp.Diff(want, ps[0].Spec, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(ps[0].Spec.TopologySpread.Constraints) != 0 {
		t.Errorf("constraints: [] was re-defaulted to %v", ps[0].Spec.TopologySpread.Constraints)
	}
}
