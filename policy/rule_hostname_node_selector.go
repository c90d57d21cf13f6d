package policy

// Rule HostnameNodeSelector.
//
// Reads: spec.replicas and spec.template.spec.nodeSelector.
//
// A nodeSelector on kubernetes.io/hostname admits exactly one node, so two or more replicas must
// share it (or stay Pending under anti-affinity).

import corev1 "k8s.io/api/core/v1"

// RuleHostnameNodeSelector reports a replicated StatefulSet pinned to one host by nodeSelector.
const RuleHostnameNodeSelector RuleID = "HostnameNodeSelector"

func init() {
	addChecker(&checker{
		rules: []RuleInfo{{ID: RuleHostnameNodeSelector, Severity: SeverityError, GrowsWithReplicas: true,
			Summary: "a replicated StatefulSet must not pin its pods to one host with a nodeSelector on kubernetes.io/hostname"}},
		check: checkHostnameNodeSelector,
	})
}

func checkHostnameNodeSelector(c *context) {
	if !c.replicated() {
		return
	}
	if _, ok := c.podSpec().NodeSelector[corev1.LabelHostname]; !ok {
		return
	}
	c.report(RuleHostnameNodeSelector, SeverityError, pathPodSpec.Child("nodeSelector").Key(corev1.LabelHostname),
		"a nodeSelector on kubernetes.io/hostname admits one node for %d replicas; remove it, or use required node "+
			"affinity on kubernetes.io/hostname with operator In and at least %d hostnames", c.replicas, c.replicas)
}
