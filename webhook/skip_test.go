package webhook

import (
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
)

// The chart's mutating webhook skips StatefulSet updates that change nothing in the spec but
// spec.replicas (manifests/chart/templates/webhooks.yaml). That is only safe if the mutator would
// answer them with nothing: no patch, no warning. Checked for every corpus StatefulSet, stored as
// Stowage mutated it and as stored without Stowage (created while the webhook was down), scaled
// up and down, under the default policy and with no policy.
func TestMutatorAnswersReplicaOnlyUpdatesWithNothing(t *testing.T) {
	clusters := map[string]Cluster{"default policy": withPolicy(), "no policy": &staticCluster{set: policy.NewSet()}}
	n := 0
	for _, f := range testcorpus.Files(t) {
		for _, sts := range statefulSetsIn(t, f) {
			res, err := policy.Evaluate(policy.Request{Operation: policy.Create, Object: sts}, policyfile.Default(), policy.Facts{})
			if err != nil {
				t.Fatal(err)
			}
			for storedAs, stored := range map[string]*appsv1.StatefulSet{"mutated": res.StatefulSet(), "unmutated": sts} {
				for _, replicas := range []int32{0, 1, 2, 7} {
					scaled := stored.DeepCopy()
					scaled.Spec.Replicas = ptr.To(replicas)
					for name, c := range clusters {
						n++
						_, resp := serve(t, newTestHandler(Mutating, c), review(t, admissionv1.Update, statefulSetsGVR, "", scaled, stored), "application/json", "")
						if resp == nil || !resp.Allowed || len(resp.Patch) > 0 || len(resp.Warnings) > 0 {
							t.Errorf("%s, stored %s, scaled to %d, %s: %+v", f, storedAs, replicas, name, resp)
						}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no corpus StatefulSets")
	}
}
