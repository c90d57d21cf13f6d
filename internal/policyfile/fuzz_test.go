package policyfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// FuzzLoad loads arbitrary policy files. Load must never panic, every problem must be a
// *stream.Error on a line of the input, and every policy it returns must be valid and already
// defaulted.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte(policy("db", "  enforcementAction: Warn\n  storage:\n    mode: Enforce\n    allowedClassNames: [fast, slow]\n") + "---\n" + policy("b", "  priority: 2\n")))
	f.Add([]byte(policy("db", "  topologySpread:\n    constraints: []\n  disruptionBudget:\n    maxUnavailable: \"25%\"\n")))
	f.Add([]byte(policy("db", "  disruptionBudget:\n    maxUnavailable: 0\n  optOut:\n    namespaces: [a, a]\n")))
	f.Add([]byte(`{"apiVersion":"stowage.dev/v1alpha1","kind":"PlacementPolicyList","items":[{"apiVersion":"stowage.dev/v1alpha1","kind":"PlacementPolicy","metadata":{"name":"j"},"spec":{"objectSelector":{"matchLabels":{"a":"b"}}}}]}`))
	f.Add([]byte(policy("db", "  namespaceSelector:\n    matchExpressions:\n    - {key: team, operator: In, values: [a]}\n  base: &b {mode: Off}\n  antiAffinity:\n    <<: *b\n")))
	// Manifests that are not policies, from the policy engine's fixtures.
	fixtures, _ := filepath.Glob(filepath.Join("..", "..", "policy", "testdata", "*", "*.in.yaml"))
	for _, name := range fixtures[:min(3, len(fixtures))] {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		ps, errs := Load("fuzz.yaml", data)
		lines := 1
		for _, b := range data {
			if b == '\n' || b == '\r' {
				lines++
			}
		}
		for _, e := range errs {
			var se *stream.Error
			if !errors.As(e, &se) {
				t.Fatalf("error %v is a %T, want *stream.Error", e, e)
			}
			if se.Line < 1 || se.Line > lines {
				t.Fatalf("error %v at line %d, outside 1..%d", e, se.Line, lines)
			}
		}
		names := map[string]bool{}
		for _, p := range ps {
			if verrs := v1alpha1.Validate(p); len(verrs) > 0 {
				t.Fatalf("Load returned an invalid policy %s: %v", p.Name, verrs)
			}
			again := p.DeepCopy()
			v1alpha1.SetDefaults(again)
			if !reflect.DeepEqual(p, again) {
				t.Fatalf("Load returned a policy that is not defaulted: %+v", p.Spec)
			}
			if names[p.Name] {
				t.Fatalf("Load returned two policies named %s", p.Name)
			}
			names[p.Name] = true
		}
	})
}
