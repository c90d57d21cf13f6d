package controllers

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// PolicyFor is the one selection the budget and recovery controllers share: the scope of the
// webhook configuration, the policies read afresh, and the opt-out where the policy allows it.
func TestPolicyFor(t *testing.T) {
	trusting := policyfile.Default()
	trusting.Spec.OptOut.Namespaces = []string{"trusted"}
	optedOut := func(ns string) *appsv1.StatefulSet {
		s := statefulSet(ns, "db")
		s.Annotations = map[string]string{v1alpha1.OptOutAnnotation: "true"}
		return s
	}
	for _, tc := range []struct {
		name      string
		objs      []client.Object
		sts       *appsv1.StatefulSet
		want      string // the policy's name; "" for none
		wantError error
	}{
		{name: "covered namespace → the policy that selects it",
			objs: []client.Object{webhookConfig(), namespaceObj("apps"), trusting}, sts: statefulSet("apps", "db"), want: "default"},
		{name: "namespace the webhook configuration excludes → none",
			objs: []client.Object{webhookConfig(), namespaceObj("stowage-system"), trusting}, sts: statefulSet("stowage-system", "db")},
		{name: "system namespace → none, without even asking the scope (never seen here)",
			objs: []client.Object{namespaceObj("kube-system"), trusting}, sts: statefulSet("kube-system", "db")},
		{name: "opted out in a namespace the policy trusts → none",
			objs: []client.Object{webhookConfig(), namespaceObj("trusted"), trusting}, sts: optedOut("trusted")},
		{name: "opted out in a namespace the policy does not trust → the policy still applies",
			objs: []client.Object{webhookConfig(), namespaceObj("apps"), trusting}, sts: optedOut("apps"), want: "default"},
		{name: "no policy → none",
			objs: []client.Object{webhookConfig(), namespaceObj("apps")}, sts: statefulSet("apps", "db")},
		{name: "webhook configuration never seen → scope unknown",
			objs: []client.Object{namespaceObj("apps"), trusting}, sts: statefulSet("apps", "db"), wantError: ErrScopeUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReconciler(newFakeClient(t, tc.objs...))
			p, err := r.PolicyFor(context.Background(), tc.sts)
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("error %v, want %v", err, tc.wantError)
			}
			got := ""
			if p != nil {
				got = p.Name
			}
			if got != tc.want {
				t.Errorf("policy %q, want %q", got, tc.want)
			}
		})
	}
}
