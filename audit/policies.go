package audit

import (
	"fmt"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// PolicySet builds the policies an audit applies from the PlacementPolicies listed from a
// cluster (Snapshot.PlacementPolicies): each is defaulted on a copy and validated, and an invalid
// one is left out with an error, as the webhook leaves it out. When none are given, it is
// Stowage's default policy, as for a cluster where none are installed.
func PolicySet(policies []*v1alpha1.PlacementPolicy) (*policy.Set, []error) {
	if len(policies) == 0 {
		return policy.NewSet(policyfile.Default()), nil
	}
	items := make([]v1alpha1.PlacementPolicy, 0, len(policies))
	for _, p := range policies {
		if p != nil {
			items = append(items, *p)
		}
	}
	set := policy.Compile(items, nil)
	var errs []error
	for _, st := range set.States() {
		switch {
		case st.Valid():
		case st.InForce != nil:
			errs = append(errs, fmt.Errorf("PlacementPolicy %s is invalid; its last valid generation %d was applied: %s", st.Name, st.LastValidGeneration, st.Problem))
		default:
			errs = append(errs, fmt.Errorf("PlacementPolicy %s is invalid and was not applied: %s", st.Name, st.Problem))
		}
	}
	return set, errs
}
