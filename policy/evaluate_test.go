package policy

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func TestEnforcementActions(t *testing.T) {
	pinned := compliant(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.NodeName = "a" })
	tests := []struct {
		action v1alpha1.EnforcementAction
		want   Severity
	}{
		{v1alpha1.Deny, SeverityError},
		{v1alpha1.Warn, SeverityWarning},
		{v1alpha1.Audit, SeverityWarning},
	}
	for _, tc := range tests {
		t.Run(string(tc.action)+" → "+string(tc.want), func(t *testing.T) {
			p := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.EnforcementAction = tc.action })
			res := create(t, pinned, p, Facts{})
			if len(res.Violations) != 1 || res.Violations[0].Severity != tc.want {
				t.Fatalf("violations = %+v, want one of severity %s", res.Violations, tc.want)
			}
			if res.Action != tc.action || res.Policy != "default" {
				t.Errorf("result names action %q policy %q", res.Action, res.Policy)
			}
			if got := len(res.Errors()) + len(res.Warnings()); got != 1 {
				t.Errorf("Errors()+Warnings() = %d", got)
			}
		})
	}
}

func TestEvaluateRejectsWhatItCannotEvaluate(t *testing.T) {
	p := testPolicy()
	tests := []struct {
		name string
		req  Request
	}{
		{"a Deployment", Request{Operation: Create, Object: &appsv1.Deployment{}}},
		{"a nil StatefulSet", Request{Operation: Create, Object: (*appsv1.StatefulSet)(nil)}},
		{"an update without the old object", Request{Operation: Update, Object: statefulSet()}},
		{"an update whose old object is a claim", Request{Operation: Update, Object: statefulSet(), OldObject: claim()}},
		{"a claim update without the old claim", Request{Operation: Update, Object: claim()}},
		{"an unknown operation", Request{Operation: "DELETE", Object: statefulSet()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Evaluate(tc.req, p, Facts{}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if _, err := Evaluate(Request{Operation: Create, Object: statefulSet()}, nil, Facts{}); err == nil {
		t.Fatal("a nil policy must be an error")
	}
}

func TestUpdateNeverChangesThePodTemplate(t *testing.T) {
	old := statefulSet()
	scaled := statefulSet(replicas(5))
	res := evaluate(t, Request{Operation: Update, Object: scaled, OldObject: old}, testPolicy(), Facts{})
	if diff := cmp.Diff(scaled, res.StatefulSet()); diff != "" {
		t.Fatalf("update changed the object (-in +out):\n%s", diff)
	}
}

func TestEvaluateIsDeterministic(t *testing.T) {
	// Map iteration order must never leak into the patch or the violations.
	sts := statefulSet(func(s *appsv1.StatefulSet) {
		s.Spec.Selector.MatchLabels["a"] = "1"
		s.Spec.Selector.MatchLabels["b"] = "2"
		s.Spec.Template.Labels["a"] = "1"
		s.Spec.Template.Labels["b"] = "2"
		s.Spec.Template.Spec.NodeName = "x"
		s.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "x"}
	})
	var first []byte
	for i := range 20 {
		res := create(t, sts, testPolicy(), Facts{})
		b, _ := json.Marshal(struct {
			P any
			V []string
		}{res.Patch, ruleHits(res.Violations)})
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("run %d differs:\n%s\n%s", i, first, b)
		}
	}
}

func TestCompliantObjectGivesEmptyPatch(t *testing.T) {
	res := create(t, compliant(), testPolicy(), Facts{})
	if len(res.Patch) != 0 || len(res.Violations) != 0 {
		t.Fatalf("compliant object: patch %v, violations %v", res.Patch, res.Violations)
	}
}
