package policy

import (
	"cmp"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// RuleInfo describes a rule for reports and documentation.
type RuleInfo struct {
	ID RuleID
	// Summary is one sentence on what the rule requires.
	Summary string
	// Severity is the rule's severity under a Deny policy, before ratcheting.
	Severity Severity
	// GrowsWithReplicas marks a problem whose size is the replica count: an update that adds
	// replicas makes it worse, so ratcheting does not excuse it.
	GrowsWithReplicas bool
}

// checker is what one rule file contributes: the rules it reports and the functions that
// mutate, preserve and check. Every rule_<name>.go registers exactly one in its init, the way
// pod-security-admission's check_<name>.go files call addCheck, so that a rule's ID, summary,
// severity, ratchet class and logic live in one file. TestRulesAreDescribed reads the sources
// and fails when a file reports a rule it does not describe.
type checker struct {
	rules []RuleInfo

	// StatefulSets. mutate runs on Create, preserve on Update (it only keeps stored values),
	// check on every evaluation except the Mutate phase.
	mutate   func(*context)
	preserve func(*context, *appsv1.StatefulSet)
	check    func(*context)

	// PersistentVolumeClaims, likewise.
	mutateClaim   func(*context)
	preserveClaim func(*context, *corev1.PersistentVolumeClaim)
	checkClaim    func(*context)
}

// checkers are the registered rule files, in registration order.
var checkers []*checker

// ruleIndex finds a rule's description by ID.
var ruleIndex = map[RuleID]*RuleInfo{}

// addChecker registers a rule file's checker. It is called from init functions only.
func addChecker(c *checker) {
	for i := range c.rules {
		r := &c.rules[i]
		if _, dup := ruleIndex[r.ID]; dup {
			panic("policy: rule " + string(r.ID) + " described twice")
		}
		ruleIndex[r.ID] = r
	}
	checkers = append(checkers, c)
}

// Rules lists every rule the engine can report, sorted by ID.
func Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(ruleIndex))
	for _, r := range ruleIndex {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RuleInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// growsWithReplicas reports whether a rule's problem grows with the replica count.
func growsWithReplicas(id RuleID) bool {
	r := ruleIndex[id]
	return r != nil && r.GrowsWithReplicas
}
