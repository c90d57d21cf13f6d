package policy

// RuleInfo describes a rule for reports and documentation.
type RuleInfo struct {
	ID RuleID
	// Summary is one sentence on what the rule requires.
	Summary string
	// Severity is the rule's severity under a Deny policy, before ratcheting.
	Severity Severity
}

// Rules lists every rule the engine can report, in a stable order.
func Rules() []RuleInfo {
	return []RuleInfo{
		{RuleNodeNamePinned, "a replicated StatefulSet must not set nodeName, which binds every replica to one node", SeverityError},
		{RuleHostnameNodeSelector, "a replicated StatefulSet must not pin its pods to one host with a nodeSelector on kubernetes.io/hostname", SeverityError},
		{RuleNodeAffinityTooFewHosts, "required node affinity must admit at least as many hosts as there are replicas", SeverityError},
		{RulePodAffinityCoLocates, "required pod affinity must not pull a StatefulSet's replicas onto one node", SeverityError},
		{RuleInsufficientEligibleNodes, "there must be at least as many eligible nodes as replicas", SeverityError},
		{RuleAntiAffinityMissing, "pods need required anti-affinity on kubernetes.io/hostname over the StatefulSet's own pods", SeverityError},
		{RuleAntiAffinityWideKey, "required anti-affinity should use kubernetes.io/hostname, not a wider key", SeverityWarning},
		{RulePodSelectorInvalid, "spec.selector must select the pods by their template labels", SeverityError},
		{RuleStorageClassNotAllowed, "an explicit storage class must be one the policy allows", SeverityError},
		{RuleStorageClassUnset, "claims should name a storage class; the cluster default is not node-local storage", SeverityWarning},
		{RuleTopologySpreadMissing, "pods should carry the policy's topology spread constraints", SeverityWarning},
		{RuleDisruptionBudgetConflict, "exactly one PodDisruptionBudget may select a StatefulSet's pods", SeverityWarning},
		{RuleDisruptionBudgetBlocksEviction, "the PodDisruptionBudget over a StatefulSet's pods must allow one eviction", SeverityWarning},
		{RuleOptOutNotAllowed, "the opt-out annotation is only honoured in namespaces the policy lists", SeverityWarning},
	}
}
