package manifests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// certDir is where controller-runtime's webhook server reads tls.crt and tls.key.
const certDir = "/tmp/k8s-webhook-server/serving-certs"

func TestDeployment(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		values                            string
		wantReplicas                      int32
		wantImage, wantInterval, wantPrio string
		wantExtraArgs                     []string
		wantTLSSecret                     string
	}{
		{
			name:         "default values",
			wantReplicas: 2, wantImage: "ghcr.io/stowage-dev/stowage:0.1.0", wantInterval: "10m", wantPrio: "system-cluster-critical",
			wantTLSSecret: "stowage-webhook-tls",
		},
		{
			name:         "overrides",
			values:       "replicaCount: 3\nimage: {tag: v9.9.9}\naudit: {interval: 1h}\npriorityClassName: tenant-high\nextraArgs: [--zap-log-level=debug]\ntls: {secretName: custom-tls}\n",
			wantReplicas: 3, wantImage: "ghcr.io/stowage-dev/stowage:v9.9.9", wantInterval: "1h", wantPrio: "tenant-high",
			wantExtraArgs: []string{"--zap-log-level=debug"}, wantTLSSecret: "custom-tls",
		},
		{
			name:         "image pinned by digest",
			values:       "image: {tag: ignored, digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}",
			wantReplicas: 2, wantImage: "ghcr.io/stowage-dev/stowage@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantInterval: "10m",
			wantPrio:      "system-cluster-critical",
			wantTLSSecret: "stowage-webhook-tls",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			d := get[appsv1.Deployment](t, r, "Deployment", fullname)
			pod := &d.Spec.Template.Spec
			podLabels := labels.Set(d.Spec.Template.Labels)

			if got := ptr.Deref(d.Spec.Replicas, 1); got < 2 || got != tc.wantReplicas {
				t.Errorf("replicas is %d, want %d (never under 2)", got, tc.wantReplicas)
			}
			if !selects(t, d.Spec.Selector, podLabels) {
				t.Errorf("selector %v does not select the pod template's labels %v", d.Spec.Selector, podLabels)
			}
			if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxSurge == nil || s.MaxSurge.IntValue() != 0 {
				t.Errorf("rolling update surges (%v): with one replica per node the surge pod cannot schedule on a cluster with exactly replicas nodes", s)
			}

			// One replica per node.
			var anti []corev1.PodAffinityTerm
			if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
				anti = a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
			}
			found := false
			for _, term := range anti {
				if term.TopologyKey == corev1.LabelHostname && selects(t, term.LabelSelector, podLabels) && len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
					found = true
				}
			}
			if !found {
				t.Errorf("no required pod anti-affinity on %s over the webhook's own pods: %+v", corev1.LabelHostname, anti)
			}

			if pod.ServiceAccountName != fullname {
				t.Errorf("serviceAccountName is %q, want %q", pod.ServiceAccountName, fullname)
			}
			if pod.PriorityClassName != tc.wantPrio {
				t.Errorf("priorityClassName is %q, want %q", pod.PriorityClassName, tc.wantPrio)
			}
			if pod.HostNetwork || pod.HostPID || pod.HostIPC {
				t.Error("pod uses a host namespace")
			}
			if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
				t.Fatalf("%d containers and %d init containers, want one container", len(pod.Containers), len(pod.InitContainers))
			}
			c := pod.Containers[0]
			checkSecurity(t, pod, &c)

			if c.Image != tc.wantImage {
				t.Errorf("image is %q, want %q", c.Image, tc.wantImage)
			}
			if diff := cmp.Diff([]string{"stowage", "webhook"}, c.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			wantArgs := append([]string{
				"--port=9443",
				"--cert-dir=" + certDir,
				"--metrics-bind-address=:8443",
				"--health-probe-bind-address=:8081",
				"--leader-elect=true",
				"--namespace=$(POD_NAMESPACE)",
				"--webhook-configuration=" + fullname,
				"--audit-interval=" + tc.wantInterval,
				"--memory-limit=$(MEMORY_LIMIT)",
				"--memory-limit-ratio=0.75",
			}, tc.wantExtraArgs...)
			if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
			}) {
				t.Errorf("no POD_NAMESPACE from the downward API (metadata.namespace): %+v", c.Env)
			}
			// GOMEMLIMIT at the whole limit leaves no headroom; --memory-limit gets the limit and
			// sets the Go soft limit to --memory-limit-ratio of it.
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "MEMORY_LIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
					e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.Divisor.IsZero()
			}) {
				t.Errorf("no MEMORY_LIMIT from the downward API (limits.memory, in bytes): %+v", c.Env)
			}
			if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }) {
				t.Error("GOMEMLIMIT is set in the environment; it would override --memory-limit-ratio")
			}
			for name, want := range map[string]int32{"webhook": 9443, "metrics": 8443, "health": 8081} {
				if got := containerPort(t, d, name); got != want {
					t.Errorf("container port %s is %d, want %d", name, got, want)
				}
			}

			for _, p := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", p.name)
					continue
				}
				if p.probe.HTTPGet.Path != p.path || containerPort(t, d, p.probe.HTTPGet.Port.String()) != 8081 {
					t.Errorf("%s probe is GET %s on %s, want GET %s on 8081", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
				}
			}

			// Graceful shutdown: keep serving until every API server has dropped the endpoint.
			var sleep int64
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				sleep = c.Lifecycle.PreStop.Sleep.Seconds
			}
			if sleep <= 0 {
				t.Errorf("no preStop sleep: %+v", c.Lifecycle)
			}
			if grace := ptr.Deref(pod.TerminationGracePeriodSeconds, 30); grace <= sleep {
				t.Errorf("terminationGracePeriodSeconds %d does not exceed the preStop sleep of %d", grace, sleep)
			}

			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
					t.Errorf("no %s request", res)
				}
			}
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
				t.Error("no memory limit")
			} else if req := c.Resources.Requests[corev1.ResourceMemory]; q.Cmp(req) < 0 {
				t.Errorf("memory limit %s is under the request %s", q.String(), req.String())
			}

			// The serving certificate, mounted where --cert-dir points.
			var mount *corev1.VolumeMount
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].MountPath == certDir {
					mount = &c.VolumeMounts[i]
				}
			}
			if mount == nil {
				t.Fatalf("nothing mounted at %s", certDir)
			}
			if !mount.ReadOnly {
				t.Errorf("%s is mounted read-write", certDir)
			}
			var secret string
			for _, v := range pod.Volumes {
				if v.Name == mount.Name && v.Secret != nil {
					secret = v.Secret.SecretName
				}
				if v.HostPath != nil {
					t.Errorf("volume %s is a hostPath", v.Name)
				}
			}
			if secret != tc.wantTLSSecret {
				t.Errorf("%s holds Secret %q, want %q", certDir, secret, tc.wantTLSSecret)
			}
			if cert, ok := r.find("Certificate", fullname+"-webhook").(*cmv1.Certificate); ok && cert.Spec.SecretName != secret {
				t.Errorf("the serving Certificate writes Secret %q but the pods mount %q", cert.Spec.SecretName, secret)
			}

			// Its own disruption budget, which lets a drain take one replica at a time.
			pdb := get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", fullname)
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
				t.Errorf("PodDisruptionBudget allows maxUnavailable %v, minAvailable %v; want maxUnavailable 1", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
			}
			if !selects(t, pdb.Spec.Selector, podLabels) {
				t.Errorf("PodDisruptionBudget selector %v does not select the webhook's pods", pdb.Spec.Selector)
			}
		})
	}
}

// selects reports whether a label selector selects a set of labels. An empty selector selects
// nothing here: a workload's selector must never be empty.
func selects(t *testing.T, s *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	if s == nil || len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatalf("selector %v: %v", s, err)
	}
	return sel.Matches(set)
}

// checkSecurity checks the controls of the restricted Pod Security Standard that the chart sets,
// taking container settings over pod settings as the kubelet does.
func checkSecurity(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	nonRoot := ptr.Deref(sc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false))
	if !nonRoot {
		t.Error("runAsNonRoot is not true")
	}
	if uid := sc.RunAsUser; uid != nil && *uid == 0 || sc.RunAsUser == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		t.Error("runs as UID 0")
	}
	if !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if ptr.Deref(sc.AllowPrivilegeEscalation, true) {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if ptr.Deref(sc.Privileged, false) {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities are %+v, want drop [ALL] and add nothing", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile is %+v, want RuntimeDefault", seccomp)
	}
}

// permissions flattens RBAC rules to "group/resource" → sorted verbs.
func permissions(t *testing.T, rules []rbacv1.PolicyRule) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("rule %+v: nonResourceURLs or resourceNames; keep rules plain", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				key := g + "/" + res
				out[key] = append(out[key], r.Verbs...)
				slices.Sort(out[key])
				out[key] = slices.Compact(out[key])
			}
		}
	}
	return out
}

var (
	read = []string{"get", "list", "watch"}
	// Budgets are created, updated and deleted; never patched.
	write = []string{"create", "delete", "get", "list", "update", "watch"}
)

func TestRBAC(t *testing.T) {
	clusterWant := map[string][]string{
		"apps/statefulsets":             read,
		"/persistentvolumeclaims":       read,
		"/persistentvolumes":            read,
		"/pods":                         read,
		"/nodes":                        read,
		"/namespaces":                   read,
		"storage.k8s.io/storageclasses": read,
		"admissionregistration.k8s.io/validatingwebhookconfigurations": read,
		"policy/poddisruptionbudgets":                                  write,
		"stowage.dev/placementpolicies":                                read,
		"stowage.dev/placementpolicies/status":                         {"patch"},
		"authentication.k8s.io/tokenreviews":                           {"create"},
		"authorization.k8s.io/subjectaccessreviews":                    {"create"},
	}
	// The audit lists every operator resource of internal/operatorcr's table, and only lists them.
	for _, k := range operatorcr.Kinds {
		clusterWant[k.Group+"/"+k.Resource()] = []string{"list"}
	}
	withReports := map[string][]string{"wgpolicyk8s.io/policyreports": {"create", "delete", "get", "list", "update", "watch"}}
	for k, v := range clusterWant {
		withReports[k] = v
	}
	withRecovery := map[string][]string{
		"apps/statefulsets":       {"get", "list", "patch", "watch"},
		"/persistentvolumeclaims": {"delete", "get", "list", "watch"},
		"/persistentvolumes":      {"get", "list", "patch", "watch"},
		"/pods":                   {"delete", "get", "list", "watch"},
		// The recovery controller records events on the StatefulSets it recovers.
		"/events":              {"create", "patch"},
		"events.k8s.io/events": {"create", "patch"},
	}
	for k, v := range clusterWant {
		if _, ok := withRecovery[k]; !ok {
			withRecovery[k] = v
		}
	}
	roleWant := map[string][]string{
		"coordination.k8s.io/leases": {"create", "get", "update"},
		"/events":                    {"create", "patch"},
		"events.k8s.io/events":       {"create", "patch"},
	}

	for _, tc := range []struct {
		name, values string
		wantCluster  map[string][]string
	}{
		{"default values", "", clusterWant},
		{"PolicyReports on", "audit: {policyReports: {enabled: true}}", withReports},
		{"recovery on: delete pods and claims, patch volumes and StatefulSets, nothing more", "recovery: {enabled: true}", withRecovery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			cr := get[rbacv1.ClusterRole](t, r, "ClusterRole", fullname)
			role := get[rbacv1.Role](t, r, "Role", fullname+"-leader-election")
			if diff := cmp.Diff(tc.wantCluster, permissions(t, cr.Rules)); diff != "" {
				t.Errorf("ClusterRole permissions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(roleWant, permissions(t, role.Rules)); diff != "" {
				t.Errorf("leader election Role permissions (-want +got):\n%s", diff)
			}
			if cr.AggregationRule != nil {
				t.Error("the ClusterRole aggregates other roles")
			}

			// Whatever else changes, these stay out of every role.
			for _, roleRules := range [][]rbacv1.PolicyRule{cr.Rules, role.Rules} {
				for _, rule := range roleRules {
					for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
						if slices.Contains(field, "*") {
							t.Errorf("rule %+v has a wildcard", rule)
						}
					}
					for _, res := range rule.Resources {
						if res == "secrets" || res == "serviceaccounts/token" || strings.HasPrefix(res, "secrets/") {
							t.Errorf("rule %+v grants access to %s", rule, res)
						}
					}
					for _, v := range rule.Verbs {
						if v == "escalate" || v == "bind" || v == "impersonate" || v == "deletecollection" {
							t.Errorf("rule %+v grants %s", rule, v)
						}
					}
				}
			}

			// The bindings give exactly these roles to the webhook's ServiceAccount.
			sa := corev1.ObjectReference{Kind: "ServiceAccount", Name: fullname, Namespace: Namespace}
			d := get[appsv1.Deployment](t, r, "Deployment", fullname)
			if d.Spec.Template.Spec.ServiceAccountName != sa.Name || r.find("ServiceAccount", sa.Name) == nil {
				t.Errorf("the Deployment runs as %q; the ServiceAccount %q the roles are bound to must exist", d.Spec.Template.Spec.ServiceAccountName, sa.Name)
			}
			crb := get[rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", fullname)
			rb := get[rbacv1.RoleBinding](t, r, "RoleBinding", fullname+"-leader-election")
			for _, b := range []struct {
				name     string
				ref      rbacv1.RoleRef
				subjects []rbacv1.Subject
				want     rbacv1.RoleRef
			}{
				{"ClusterRoleBinding", crb.RoleRef, crb.Subjects, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}},
				{"RoleBinding", rb.RoleRef, rb.Subjects, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}},
			} {
				if b.ref != b.want {
					t.Errorf("%s refers to %+v, want %+v", b.name, b.ref, b.want)
				}
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}}
				if diff := cmp.Diff(want, b.subjects); diff != "" {
					t.Errorf("%s subjects (-want +got):\n%s", b.name, diff)
				}
			}
		})
	}
}

func TestNetworkPolicy(t *testing.T) {
	tcp := ptr.To(corev1.ProtocolTCP)
	port := func(p int) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(int32(p))), Protocol: tcp}}
	}
	prometheus := []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	}}
	monitoring := []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "monitoring"}},
	}}
	apiServerOnly := []networkingv1.NetworkPolicyEgressRule{{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.1/32"}}},
		Ports: port(443),
	}}
	for _, tc := range []struct {
		name, values string
		wantIngress  []networkingv1.NetworkPolicyIngressRule
		wantEgress   []networkingv1.NetworkPolicyEgressRule
	}{
		{
			name: "default values: webhook from anywhere, metrics from Prometheus, all egress",
			wantIngress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: port(9443)},
				{From: prometheus, Ports: port(8443)},
			},
			wantEgress: []networkingv1.NetworkPolicyEgressRule{{}},
		},
		{
			name:   "metrics from a namespace, egress to the API server only",
			values: "networkPolicy: {metrics: {from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}, egress: [{to: [{ipBlock: {cidr: 10.0.0.1/32}}], ports: [{port: 443, protocol: TCP}]}]}",
			wantIngress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: port(9443)},
				{From: monitoring, Ports: port(8443)},
			},
			wantEgress: apiServerOnly,
		},
		{
			name:        "no metrics peers: metrics blocked",
			values:      "networkPolicy: {metrics: {from: []}}",
			wantIngress: []networkingv1.NetworkPolicyIngressRule{{Ports: port(9443)}},
			wantEgress:  []networkingv1.NetworkPolicyEgressRule{{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			np := get[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
			d := get[appsv1.Deployment](t, r, "Deployment", fullname)
			if !selects(t, &np.Spec.PodSelector, d.Spec.Template.Labels) {
				t.Errorf("podSelector %v does not select the webhook's pods", np.Spec.PodSelector)
			}
			if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes); diff != "" {
				t.Errorf("policyTypes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantIngress, np.Spec.Ingress, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEgress, np.Spec.Egress, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("egress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCertificates(t *testing.T) {
	t.Run("default values: the chart's own CA", func(t *testing.T) {
		r := render(t, "")
		serving := get[cmv1.Certificate](t, r, "Certificate", fullname+"-webhook")
		svc := fullname + "-webhook." + Namespace + ".svc"
		if diff := cmp.Diff([]string{svc, svc + ".cluster.local"}, serving.Spec.DNSNames); diff != "" {
			t.Errorf("serving certificate dnsNames (-want +got):\n%s", diff)
		}
		if serving.Spec.SecretName != fullname+"-webhook-tls" {
			t.Errorf("serving certificate Secret is %q, want %s-webhook-tls", serving.Spec.SecretName, fullname)
		}
		if serving.Spec.IsCA || !slices.Contains(serving.Spec.Usages, cmv1.UsageServerAuth) {
			t.Errorf("serving certificate isCA=%t usages=%v, want a leaf with server auth", serving.Spec.IsCA, serving.Spec.Usages)
		}

		// The chain: self-signed Issuer → CA Certificate → CA Issuer → serving Certificate.
		caIssuer := issuer(t, r, serving.Spec.IssuerRef.Name, serving.Spec.IssuerRef.Kind, serving.Spec.IssuerRef.Group)
		if caIssuer.Spec.CA == nil {
			t.Fatalf("serving certificate is issued by %s, which is no CA Issuer", caIssuer.Name)
		}
		var ca *cmv1.Certificate
		for _, c := range all[cmv1.Certificate](r, "Certificate") {
			if c.Spec.SecretName == caIssuer.Spec.CA.SecretName {
				ca = c
			}
		}
		if ca == nil {
			t.Fatalf("no Certificate writes the CA Issuer's Secret %q", caIssuer.Spec.CA.SecretName)
		}
		if !ca.Spec.IsCA {
			t.Errorf("Certificate %s signs the serving certificate but is not a CA", ca.Name)
		}
		root := issuer(t, r, ca.Spec.IssuerRef.Name, ca.Spec.IssuerRef.Kind, ca.Spec.IssuerRef.Group)
		if root.Spec.SelfSigned == nil {
			t.Errorf("the CA is issued by %s, which is not self-signed", root.Name)
		}

		// Renewal: the serving certificate renews before the expiry alert fires, and the CA
		// renews early enough that every serving certificate is re-issued under the new one.
		expiryAlert := 14 * 24 * time.Hour
		sd, sr := duration(t, serving.Spec.Duration), duration(t, serving.Spec.RenewBefore)
		cd, cr := duration(t, ca.Spec.Duration), duration(t, ca.Spec.RenewBefore)
		if sr <= expiryAlert || sr >= sd {
			t.Errorf("serving certificate renews %v before expiry (lifetime %v); want more than %v, less than its lifetime", sr, sd, expiryAlert)
		}
		if cr < sd || cr >= cd {
			t.Errorf("CA renews %v before expiry (lifetime %v); want at least the serving certificate's lifetime %v", cr, cd, sd)
		}
	})

	t.Run("issuerRef set: no CA of the chart's own", func(t *testing.T) {
		r := render(t, "certManager: {issuerRef: {name: corp-ca, kind: ClusterIssuer}}")
		serving := get[cmv1.Certificate](t, r, "Certificate", fullname+"-webhook")
		want := cmv1.Certificate{}.Spec.IssuerRef
		want.Name, want.Kind, want.Group = "corp-ca", "ClusterIssuer", "cert-manager.io"
		if diff := cmp.Diff(want, serving.Spec.IssuerRef); diff != "" {
			t.Errorf("issuerRef (-want +got):\n%s", diff)
		}
		if n := r.count("Issuer") + r.count("Certificate"); n != 1 {
			t.Errorf("%d cert-manager objects, want only the serving Certificate", n)
		}
	})
}

func issuer(t *testing.T, r *rendered, name, kind, group string) *cmv1.Issuer {
	t.Helper()
	if kind != "Issuer" || group != "cert-manager.io" {
		t.Fatalf("issuerRef %s %s/%s: want a namespaced cert-manager.io Issuer", name, group, kind)
	}
	return get[cmv1.Issuer](t, r, "Issuer", name)
}

func duration(t *testing.T, d *metav1.Duration) time.Duration {
	t.Helper()
	if d == nil {
		t.Fatal("duration unset; cert-manager's default would not follow the alert threshold")
	}
	return d.Duration
}

// TestDefaultPolicy checks that the chart's default PlacementPolicy is exactly the one embedded
// in the binary, and that it loads cleanly.
func TestDefaultPolicy(t *testing.T) {
	out, err := template(t, "", "--show-only", "templates/placementpolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policies, errs := policyfile.Load("templates/placementpolicy.yaml", out)
	for _, err := range errs {
		t.Error(err)
	}
	if len(policies) != 1 || policies[0].Name != "default" {
		t.Fatalf("rendered %d policies, want PlacementPolicy default", len(policies))
	}

	// Compare the specs as written, before defaulting, so that a field the chart leaves out
	// shows up even where its default would hide it.
	asWritten := func(source string, data []byte) *v1alpha1.PlacementPolicy {
		t.Helper()
		var p *v1alpha1.PlacementPolicy
		for _, err := range stream.Read(source, data, func(d *stream.Document) error {
			p = &v1alpha1.PlacementPolicy{}
			fieldErrs, err := stream.Decode(d, p)
			if err != nil {
				return err
			}
			if len(fieldErrs) > 0 {
				return fmt.Errorf("%+v", fieldErrs)
			}
			return nil
		}) {
			t.Fatal(err)
		}
		if p == nil {
			t.Fatalf("%s holds no policy", source)
		}
		return p
	}
	want := asWritten("internal/policyfile/default.yaml", policyfile.DefaultYAML())
	got := asWritten("templates/placementpolicy.yaml", out)
	if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
		t.Errorf("defaultPolicy.spec in values.yaml differs from internal/policyfile/default.yaml (-embedded +chart):\n%s", diff)
	}
}

func TestPrometheusRule(t *testing.T) {
	if r := render(t, ""); r.count("PrometheusRule") != 0 {
		t.Error("PrometheusRule rendered by default; it needs prometheus-operator's CRD")
	}
	for _, tc := range []struct {
		name, values string
		wantDays     string
	}{
		{"enabled", "prometheusRule: {enabled: true}", "14"},
		{"enabled, 7 days", "prometheusRule: {enabled: true, certificateExpiryDays: 7}", "7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			pr := get[prometheusRule](t, r, "PrometheusRule", fullname)
			byMetric := map[string]rule{}
			var names []string
			for _, g := range pr.Spec.Groups {
				for _, rl := range g.Rules {
					names = append(names, rl.Alert)
					if rl.Alert == "" || rl.Expr == "" || rl.Labels["severity"] == "" || rl.Annotations["summary"] == "" || rl.Annotations["description"] == "" {
						t.Errorf("rule %+v lacks an alert name, expression, severity, summary or description", rl)
					}
					if _, err := time.ParseDuration(rl.For); err != nil {
						t.Errorf("alert %s: for %q: %v", rl.Alert, rl.For, err)
					}
					for k, v := range rl.Annotations {
						if strings.Contains(v, "{{") != strings.Contains(v, "}}") || strings.Contains(v, "<no value>") {
							t.Errorf("alert %s annotation %s was mangled by Helm: %q", rl.Alert, k, v)
						}
					}
					metric := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(rl.Expr))
					for _, m := range metric {
						if strings.HasPrefix(m, "stowage_") {
							byMetric[m] = rl
						}
					}
				}
			}
			if sorted := slices.Sorted(slices.Values(names)); len(slices.Compact(sorted)) != len(names) {
				t.Errorf("duplicate alert names: %v", names)
			}
			for _, m := range []string{
				"stowage_colocated_replicas",
				"stowage_stranded_replicas",
				"stowage_statefulsets_without_pdb",
				"stowage_statefulsets_losing_quorum_on_node_failure",
			} {
				rl, ok := byMetric[m]
				if !ok {
					t.Errorf("no alert on %s", m)
					continue
				}
				if !strings.Contains(rl.Expr, "by (namespace, statefulset)") || !strings.HasSuffix(rl.Expr, "> 0") {
					t.Errorf("alert %s: %q should fire per namespace and statefulset when above 0", rl.Alert, rl.Expr)
				}
				if !strings.Contains(rl.Annotations["summary"], "{{ $labels.namespace }}/{{ $labels.statefulset }}") {
					t.Errorf("alert %s summary does not name the StatefulSet: %q", rl.Alert, rl.Annotations["summary"])
				}
			}
			cert, ok := byMetric["stowage_webhook_certificate_expiry_days"]
			if !ok {
				t.Fatal("no alert on stowage_webhook_certificate_expiry_days")
			}
			if !strings.HasSuffix(cert.Expr, "< "+tc.wantDays) {
				t.Errorf("certificate alert %q should fire under %s days", cert.Expr, tc.wantDays)
			}
		})
	}
}
