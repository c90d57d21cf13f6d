package policy

// Rule NodeNamePinned.
//
// Reads: spec.replicas and spec.template.spec.nodeName.
//
// nodeName bypasses the scheduler: every replica is bound to that one node, so with two or more
// replicas they all share it, whatever the anti-affinity says.

// RuleNodeNamePinned reports a replicated StatefulSet whose pod template sets nodeName.
const RuleNodeNamePinned RuleID = "NodeNamePinned"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleNodeNamePinned, Severity: SeverityError, GrowsWithReplicas: true,
			Summary: "a replicated StatefulSet must not set nodeName, which binds every replica to one node"}},
		check: checkNodeName,
	})
}

func checkNodeName(c *context) {
	if !c.replicated() || c.podSpec().NodeName == "" {
		return
	}
	c.report(RuleNodeNamePinned, SeverityError, pathPodSpec.Child("nodeName"),
		"nodeName binds all %d replicas to one node, bypassing the scheduler; remove spec.template.spec.nodeName "+
			"and let the scheduler place each replica on its own node", c.replicas)
}
