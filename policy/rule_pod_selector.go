package policy

// Rule PodSelectorInvalid.
//
// Reads: spec.selector and spec.template.metadata.labels.
//
// Every term Stowage adds selects the StatefulSet's pods with its spec.selector. Without a
// usable selector it cannot add them, and the API server would reject the StatefulSet anyway;
// this rule says so with the field, instead of silently skipping the placement rules.

// RulePodSelectorInvalid reports a StatefulSet whose spec.selector is missing, empty or invalid.
const RulePodSelectorInvalid RuleID = "PodSelectorInvalid"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RulePodSelectorInvalid, Severity: SeverityError,
			Summary: "spec.selector must select the pods by their template labels"}},
		check: checkPodSelector,
	})
}

func checkPodSelector(c *context) {
	if c.pods != nil {
		return
	}
	msg := "spec.selector must select the pods by at least one label; set matchLabels to labels of spec.template.metadata.labels"
	switch sel := c.sts.Spec.Selector; {
	case validPodSelector(sel):
		msg = "spec.selector does not select the pods' own labels in spec.template.metadata.labels; " +
			"make them match (the API server rejects the StatefulSet otherwise)"
	case sel != nil && (len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) > 0):
		msg = "spec.selector is not a valid label selector (each matchExpressions operator must be In or NotIn with values, " +
			"or Exists or DoesNotExist without); fix it so it selects the pods by their template labels"
	}
	c.report(RulePodSelectorInvalid, SeverityError, pathSelector, "%s", msg)
}
