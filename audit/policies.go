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
	var ok []*v1alpha1.PlacementPolicy
	var errs []error
	for _, p := range policies {
		if p == nil {
			continue
		}
		c := p.DeepCopy()
		v1alpha1.SetDefaults(c)
		if fe := v1alpha1.Validate(c); len(fe) > 0 {
			errs = append(errs, fmt.Errorf("PlacementPolicy %s is invalid and was not applied: %w", c.Name, fe.ToAggregate()))
			continue
		}
		ok = append(ok, c)
	}
	return policy.NewSet(ok...), errs
}
