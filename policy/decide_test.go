package policy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// stored returns a PlacementPolicy as read from a cluster: not defaulted, with a UID and a
// generation.
func stored(name string, gen int64, mods ...func(*v1alpha1.PlacementPolicySpec)) v1alpha1.PlacementPolicy {
	p := v1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: gen}}
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func warn(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = v1alpha1.Warn }

func zeroBudget(s *v1alpha1.PlacementPolicySpec) {
	s.DisruptionBudget.MaxUnavailable = &intstr.IntOrString{Type: intstr.Int, IntVal: 0}
}

func TestCompileKeepsTheLastValidVersion(t *testing.T) {
	good := stored("db", 1, warn)
	bad := stored("db", 2, warn, zeroBudget)

	t.Run("valid: in force, state valid", func(t *testing.T) {
		s := Compile([]v1alpha1.PlacementPolicy{good}, nil)
		st, ok := s.State("db")
		if !ok || !st.Valid() || st.InForce == nil || s.Len() != 1 || s.Uncertain() {
			t.Fatalf("state %+v, len %d, uncertain %v", st, s.Len(), s.Uncertain())
		}
		if st.InForce.Spec.DisruptionBudget.MaxUnavailable == nil {
			t.Errorf("the policy in force is not defaulted: %+v", st.InForce.Spec)
		}
	})
	t.Run("invalid edit: the previous version stays in force", func(t *testing.T) {
		prev := Compile([]v1alpha1.PlacementPolicy{good}, nil)
		s := Compile([]v1alpha1.PlacementPolicy{bad}, prev)
		st, _ := s.State("db")
		if st.Valid() || !strings.Contains(st.Problem, "maxUnavailable") {
			t.Errorf("problem = %q, want the maxUnavailable error", st.Problem)
		}
		if st.InForce == nil || st.LastValidGeneration != 1 || s.Len() != 1 || s.Uncertain() {
			t.Fatalf("in force %v (generation %d), len %d, uncertain %v: want generation 1 in force", st.InForce != nil, st.LastValidGeneration, s.Len(), s.Uncertain())
		}
		if st.InForce.Spec.EnforcementAction != v1alpha1.Warn || st.InForce.Spec.DisruptionBudget.MaxUnavailable.IntVal != 1 {
			t.Errorf("in force: %+v, want generation 1's spec", st.InForce.Spec)
		}
		// A second invalid edit still keeps generation 1.
		again := Compile([]v1alpha1.PlacementPolicy{stored("db", 3, zeroBudget)}, s)
		if st, _ := again.State("db"); st.LastValidGeneration != 1 || st.InForce == nil {
			t.Errorf("after a second bad edit: %+v", st)
		}
	})
	t.Run("invalid edit after a restart: status.lastValid stays in force", func(t *testing.T) {
		b := bad.DeepCopy()
		spec := good.Spec.DeepCopy()
		b.Status.LastValid = &v1alpha1.LastValidSpec{Generation: 1, Spec: spec}
		s := Compile([]v1alpha1.PlacementPolicy{*b}, nil)
		st, _ := s.State("db")
		if st.InForce == nil || st.LastValidGeneration != 1 || st.InForce.Spec.EnforcementAction != v1alpha1.Warn {
			t.Fatalf("state %+v: want status.lastValid in force", st)
		}
	})
	t.Run("a recreated policy (new UID) does not inherit the old one", func(t *testing.T) {
		prev := Compile([]v1alpha1.PlacementPolicy{good}, nil)
		b := bad.DeepCopy()
		b.UID = types.UID("another")
		s := Compile([]v1alpha1.PlacementPolicy{*b}, prev)
		if st, _ := s.State("db"); st.InForce != nil || !s.Uncertain() || s.Len() != 0 {
			t.Errorf("state %+v, uncertain %v: want ignored and uncertain", st, s.Uncertain())
		}
	})
	t.Run("never valid: ignored, and the set is uncertain", func(t *testing.T) {
		s := Compile([]v1alpha1.PlacementPolicy{bad, stored("other", 1)}, nil)
		if s.Len() != 1 || !s.Uncertain() {
			t.Fatalf("len %d, uncertain %v", s.Len(), s.Uncertain())
		}
		d, err := s.Decide(Input{Operation: Background, Object: statefulSet(func(s *appsv1.StatefulSet) {})})
		if err != nil || d.Policy == nil || d.Policy.Name != "other" {
			t.Fatalf("decide: %+v, %v", d, err)
		}
	})
	t.Run("a corrupt status.lastValid is not applied", func(t *testing.T) {
		b := bad.DeepCopy()
		b.Status.LastValid = &v1alpha1.LastValidSpec{Generation: 1, Spec: bad.Spec.DeepCopy()}
		if st, _ := Compile([]v1alpha1.PlacementPolicy{*b}, nil).State("db"); st.InForce != nil {
			t.Errorf("an invalid lastValid was applied: %+v", st)
		}
	})
	t.Run("input is not modified", func(t *testing.T) {
		items := []v1alpha1.PlacementPolicy{good}
		Compile(items, nil)
		if items[0].Spec.DisruptionBudget.MaxUnavailable != nil {
			t.Error("Compile defaulted its input")
		}
	})
}

func TestDecide(t *testing.T) {
	onlyDB := stored("only-db", 1, func(s *v1alpha1.PlacementPolicySpec) {
		s.ObjectSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"app.kubernetes.io/name": "db"}}
	})
	set := Compile([]v1alpha1.PlacementPolicy{onlyDB}, nil)
	other := func(s *appsv1.StatefulSet) { s.Labels = map[string]string{"app.kubernetes.io/name": "web"} }
	inSystem := func(s *appsv1.StatefulSet) { s.Namespace = "kube-system" }
	withClass := func(s *appsv1.StatefulSet) {
		c := "openebs-hostpath"
		s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &c
	}

	tests := []struct {
		name       string
		in         Input
		skip       Skip
		policy     string
		wantResult bool
		wantPatch  bool
		factsCalls int
	}{
		{"selected: evaluated with the facts", Input{Operation: Create, Object: statefulSet()}, NotSkipped, "only-db", true, true, 1},
		{"kube-system: skipped, facts never read", Input{Operation: Create, Object: statefulSet(inSystem)}, SkipSystemNamespace, "", false, false, 0},
		{"not selected: skipped, facts never read", Input{Operation: Create, Object: statefulSet(other)}, SkipNoPolicy, "", false, false, 0},
		{"not selected, UPDATE dropping the stored class, mutate: the class is kept",
			Input{Operation: Update, Phase: Mutate, Object: statefulSet(other), OldObject: statefulSet(other, withClass)}, SkipNoPolicy, "", true, true, 0},
		{"not selected, UPDATE, validate: nothing to judge",
			Input{Operation: Update, Phase: Validate, Object: statefulSet(other), OldObject: statefulSet(other, withClass)}, SkipNoPolicy, "", false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			tc.in.Facts = func() (Facts, error) { calls++; return Facts{}, nil }
			d, err := set.Decide(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Skip != tc.skip || (d.Policy == nil) != (tc.policy == "") || d.Policy != nil && d.Policy.Name != tc.policy {
				t.Errorf("skip %q policy %v, want %q %q", d.Skip, d.Policy, tc.skip, tc.policy)
			}
			if (d.Result != nil) != tc.wantResult {
				t.Fatalf("result %+v, want one: %v", d.Result, tc.wantResult)
			}
			if d.Result != nil && (len(d.Result.Patch) > 0) != tc.wantPatch {
				t.Errorf("patch %v, want one: %v", d.Result.Patch, tc.wantPatch)
			}
			if calls != tc.factsCalls {
				t.Errorf("facts read %d times, want %d", calls, tc.factsCalls)
			}
			if d.Uncertain {
				t.Error("uncertain with every policy valid")
			}
		})
	}

	t.Run("the namespace's labels select the policy", func(t *testing.T) {
		byNS := Compile([]v1alpha1.PlacementPolicy{stored("prod", 1, func(s *v1alpha1.PlacementPolicySpec) {
			s.NamespaceSelector = &v1alpha1.LabelSelector{MatchLabels: map[string]v1alpha1.LabelValue{"tier": "prod"}}
		})}, nil)
		d, _ := byNS.Decide(Input{Operation: Create, Object: statefulSet()})
		if d.Policy != nil {
			t.Errorf("selected without the namespace label: %v", d.Policy.Name)
		}
		d, _ = byNS.Decide(Input{Operation: Create, Object: statefulSet(), NamespaceLabels: map[string]string{"tier": "prod"}})
		if d.Policy == nil || d.Result == nil {
			t.Errorf("not selected with the namespace label")
		}
	})
	t.Run("a nil set decides nothing applies", func(t *testing.T) {
		var s *Set
		d, err := s.Decide(Input{Operation: Create, Object: statefulSet()})
		if err != nil || d.Skip != SkipNoPolicy || d.Result != nil {
			t.Errorf("%+v, %v", d, err)
		}
	})
}
