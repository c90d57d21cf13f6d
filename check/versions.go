package check

import "fmt"

// removedAPIs are API versions that no supported Kubernetes release serves any more, by
// "apiVersion Kind", with the version to use instead ("" when the kind itself is gone). A
// document using one is an input error, as `kubectl apply` would fail on it: "no matches for
// kind". The kinds Stowage evaluates (StatefulSet, PersistentVolumeClaim, PodDisruptionBudget)
// are also refused in any version but the served one (wantAPIVersion).
var removedAPIs = map[string]string{}

func init() {
	add := func(replacement, oldVersion string, kinds ...string) {
		for _, k := range kinds {
			removedAPIs[oldVersion+" "+k] = replacement
		}
	}
	workloads := []string{"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "ControllerRevision"}
	add("apps/v1", "apps/v1beta1", workloads...)
	add("apps/v1", "apps/v1beta2", workloads...)
	add("apps/v1", "extensions/v1beta1", "Deployment", "DaemonSet", "ReplicaSet")
	add("networking.k8s.io/v1", "extensions/v1beta1", "Ingress", "NetworkPolicy")
	add("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "Ingress", "IngressClass")
	add("", "extensions/v1beta1", "PodSecurityPolicy")
	add("", "policy/v1beta1", "PodSecurityPolicy")
	add("policy/v1", "policy/v1beta1", "PodDisruptionBudget")
	add("batch/v1", "batch/v1beta1", "CronJob")
	add("batch/v1", "batch/v2alpha1", "CronJob")
	add("autoscaling/v2", "autoscaling/v2beta1", "HorizontalPodAutoscaler")
	add("autoscaling/v2", "autoscaling/v2beta2", "HorizontalPodAutoscaler")
	add("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
	add("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1alpha1", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
	add("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1", "CustomResourceDefinition")
	add("apiregistration.k8s.io/v1", "apiregistration.k8s.io/v1beta1", "APIService")
	add("admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
	add("scheduling.k8s.io/v1", "scheduling.k8s.io/v1beta1", "PriorityClass")
	add("scheduling.k8s.io/v1", "scheduling.k8s.io/v1alpha1", "PriorityClass")
	add("storage.k8s.io/v1", "storage.k8s.io/v1beta1", "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "CSIStorageCapacity")
	add("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1", "EndpointSlice")
	add("events.k8s.io/v1", "events.k8s.io/v1beta1", "Event")
	add("node.k8s.io/v1", "node.k8s.io/v1beta1", "RuntimeClass")
	add("coordination.k8s.io/v1", "coordination.k8s.io/v1beta1", "Lease")
	add("certificates.k8s.io/v1", "certificates.k8s.io/v1beta1", "CertificateSigningRequest")
}

// wantAPIVersion is the only served version of each kind Stowage reads.
var wantAPIVersion = map[string]string{"StatefulSet": "apps/v1", "PersistentVolumeClaim": "v1", "PodDisruptionBudget": "policy/v1"}

// obsoleteAPI says what is wrong with an object's apiVersion, or "" when nothing is.
func obsoleteAPI(apiVersion, kind, ref string) string {
	if want := wantAPIVersion[kind]; want != "" && apiVersion != want {
		return fmt.Sprintf("%s %s uses apiVersion %s, which Kubernetes does not serve; use %s", kind, ref, apiVersion, want)
	}
	replacement, removed := removedAPIs[apiVersion+" "+kind]
	switch {
	case !removed:
		return ""
	case replacement == "":
		return fmt.Sprintf("%s %s: %s %s was removed from Kubernetes and has no replacement; remove the object", kind, ref, apiVersion, kind)
	}
	return fmt.Sprintf("%s %s uses apiVersion %s, which Kubernetes no longer serves; use %s", kind, ref, apiVersion, replacement)
}

// clusterScoped are the built-in kinds that live outside namespaces, and Stowage's own policy.
// Any other kind is taken to be namespaced, as custom resources mostly are.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true, "CSIDriver": true, "CSINode": true,
	"VolumeAttachment": true, "ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true, "APIService": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "FlowSchema": true, "PriorityLevelConfiguration": true,
	"VolumeAttributesClass": true, "DeviceClass": true, "ComponentStatus": true,
	"ClusterIssuer": true, "PlacementPolicy": true,
}
