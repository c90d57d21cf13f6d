package audit

// PolicyReports in the wgpolicyk8s.io/v1alpha2 format of the Kubernetes Policy working group, so
// that tools that already collect them (Policy Reporter, dashboards) show Stowage's findings
// next to those of other engines. One report per namespace, named stowage-audit and labelled
// app.kubernetes.io/managed-by=stowage, holds one result per finding and a pass result per
// StatefulSet that has none of error or warning severity. The types below are the minimal part
// of the CRD's schema that Stowage writes; creating and updating the objects is the caller's job.

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stowage-dev/stowage/policy"
)

// PolicyReportGroupVersion is the API group and version of the PolicyReports Stowage writes.
var PolicyReportGroupVersion = schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}

const (
	// PolicyReportKind is the kind of a namespaced policy report.
	PolicyReportKind = "PolicyReport"
	// PolicyReportName is the name of Stowage's report in each namespace.
	PolicyReportName = "stowage-audit"
	// PolicyReportSource is the source of every result Stowage writes.
	PolicyReportSource = "stowage"
	// AuditPolicyName is the policy named by results of the audit's own checks; results from
	// the engine name the PlacementPolicy instead.
	AuditPolicyName = "stowage-audit"
)

// Result values of a PolicyReportResult.
const (
	ResultPass  = "pass"
	ResultFail  = "fail"
	ResultWarn  = "warn"
	ResultError = "error"
	ResultSkip  = "skip"
)

// Severity values of a PolicyReportResult.
const (
	PolicySeverityHigh   = "high"
	PolicySeverityMedium = "medium"
	PolicySeverityInfo   = "info"
)

// PolicyReport is a wgpolicyk8s.io/v1alpha2 PolicyReport.
type PolicyReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Summary counts the results by result.
	Summary PolicyReportSummary `json:"summary"`
	// Results are the findings.
	Results []PolicyReportResult `json:"results,omitempty"`
}

// PolicyReportSummary counts the results of a report by result.
type PolicyReportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// PolicyReportResult is one result of a PolicyReport.
type PolicyReportResult struct {
	// Source is always "stowage".
	Source string `json:"source,omitempty"`
	// Policy is the PlacementPolicy for engine results, else "stowage-audit".
	Policy string `json:"policy"`
	// Rule is the finding ID.
	Rule string `json:"rule,omitempty"`
	// Category groups the rules: Placement, Volumes, Disruption budgets, Capacity, Availability
	// or Policy.
	Category string `json:"category,omitempty"`
	// Severity is high (error), medium (warning) or info.
	Severity string `json:"severity,omitempty"`
	// Timestamp is the time of the audit.
	Timestamp metav1.Timestamp `json:"timestamp,omitempty"`
	// Result is pass, fail (error findings), warn (warnings), error (objects not analysed) or
	// skip (info findings).
	Result string `json:"result,omitempty"`
	// Scored is always true.
	Scored bool `json:"scored,omitempty"`
	// Resources are the StatefulSet the result is about; for a finding at an operator resource
	// or a pod set's controller, that object first, then the StatefulSet it owns, if any.
	Resources []corev1.ObjectReference `json:"resources,omitempty"`
	// Message is the finding's message.
	Message string `json:"message,omitempty"`
	// Properties carry the node, field, rule and objects of the finding.
	Properties map[string]string `json:"properties,omitempty"`
}

var categories = map[FindingID]string{
	ColocatedReplicas: "Placement", InstanceSharesNode: "Placement",
	VolumesPinnedTogether: "Volumes", PodAwayFromVolume: "Volumes", StrandedVolume: "Volumes", PendingOnStrandedVolume: "Volumes",
	NoPDB:                     "Disruption budgets",
	InsufficientEligibleNodes: "Capacity",
	QuorumLost:                "Availability", NodeLossBreaksQuorum: "Availability",
	NoPolicy: "Policy", PolicyExempt: "Policy",
}

// PolicyReports converts the report to one PolicyReport per namespace that has StatefulSets or
// problems, sorted by namespace. Results are in report order.
func (r *Report) PolicyReports() []*PolicyReport {
	ts := metav1.Timestamp{Seconds: r.GeneratedAt.Unix(), Nanos: int32(r.GeneratedAt.Nanosecond())}
	byNS := map[string]*PolicyReport{}
	get := func(ns string) *PolicyReport {
		pr := byNS[ns]
		if pr == nil {
			pr = &PolicyReport{
				TypeMeta: metav1.TypeMeta{APIVersion: PolicyReportGroupVersion.String(), Kind: PolicyReportKind},
				ObjectMeta: metav1.ObjectMeta{Name: PolicyReportName, Namespace: ns,
					Labels: map[string]string{policy.ManagedByLabel: policy.ManagedByValue}},
			}
			byNS[ns] = pr
		}
		return pr
	}
	uids := make(map[Ref]string, len(r.StatefulSets))
	clean := make(map[Ref]bool, len(r.StatefulSets))
	for i := range r.StatefulSets {
		s := &r.StatefulSets[i]
		get(s.Namespace)
		uids[Ref{s.Namespace, s.Name}] = s.UID
		clean[Ref{s.Namespace, s.Name}] = true
	}
	resource := func(ns, name string) []corev1.ObjectReference {
		return []corev1.ObjectReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: ns, Name: name, UID: types.UID(uids[Ref{ns, name}])}}
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		ref := Ref{f.Namespace, f.StatefulSet}
		res := PolicyReportResult{
			Source: PolicyReportSource, Policy: AuditPolicyName, Rule: string(f.ID), Category: categories[f.ID],
			Timestamp: ts, Scored: true, Message: f.Message, Properties: findingProperties(f),
		}
		if f.Resource != nil {
			// The operator resource or pod-set controller, then the StatefulSet it owns.
			res.Resources = []corev1.ObjectReference{{APIVersion: f.Resource.APIVersion, Kind: f.Resource.Kind, Namespace: f.Namespace, Name: f.Resource.Name}}
		}
		if f.StatefulSet != "" {
			res.Resources = append(res.Resources, resource(f.Namespace, f.StatefulSet)...)
		}
		if f.Source == SourcePolicy {
			res.Policy, res.Category = f.Policy, "Policy"
		}
		switch f.Severity {
		case SeverityError:
			res.Result, res.Severity = ResultFail, PolicySeverityHigh
			clean[ref] = false
		case SeverityWarning:
			res.Result, res.Severity = ResultWarn, PolicySeverityMedium
			clean[ref] = false
		default:
			res.Result, res.Severity = ResultSkip, PolicySeverityInfo
		}
		get(f.Namespace).Results = append(get(f.Namespace).Results, res)
	}
	for i := range r.StatefulSets {
		s := &r.StatefulSets[i]
		if !clean[Ref{s.Namespace, s.Name}] {
			continue
		}
		pr := get(s.Namespace)
		pr.Results = append(pr.Results, PolicyReportResult{
			Source: PolicyReportSource, Policy: AuditPolicyName, Rule: "Placement", Category: "Placement",
			Severity: PolicySeverityInfo, Timestamp: ts, Result: ResultPass, Scored: true,
			Resources: resource(s.Namespace, s.Name),
			Message:   "replicas, volumes and disruption budgets pass every check",
		})
	}
	for _, p := range r.Problems {
		if p.Namespace == "" {
			continue // a cluster-scoped problem has no namespace to report in
		}
		pr := get(p.Namespace)
		pr.Results = append(pr.Results, PolicyReportResult{
			Source: PolicyReportSource, Policy: AuditPolicyName, Rule: "Analysis", Category: "Analysis",
			Severity: PolicySeverityHigh, Timestamp: ts, Result: ResultError, Scored: true,
			Resources: []corev1.ObjectReference{{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}},
			Message:   p.Message,
		})
	}
	out := make([]*PolicyReport, 0, len(byNS))
	for _, pr := range byNS {
		for _, res := range pr.Results {
			switch res.Result {
			case ResultPass:
				pr.Summary.Pass++
			case ResultFail:
				pr.Summary.Fail++
			case ResultWarn:
				pr.Summary.Warn++
			case ResultError:
				pr.Summary.Error++
			case ResultSkip:
				pr.Summary.Skip++
			}
		}
		out = append(out, pr)
	}
	slices.SortFunc(out, func(a, b *PolicyReport) int { return cmp.Compare(a.Namespace, b.Namespace) })
	return out
}

func findingProperties(f *Finding) map[string]string {
	p := map[string]string{"source": string(f.Source)}
	set := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	set("node", f.Node)
	set("field", f.Field)
	set("engineRule", f.Rule)
	set("placementPolicy", f.Policy)
	set("pods", strings.Join(f.Pods, ","))
	set("claims", strings.Join(f.Claims, ","))
	set("pdbs", strings.Join(f.PDBs, ","))
	set("severity", string(f.Severity))
	return p
}

// Unstructured converts the report for a dynamic client.
func (p *PolicyReport) Unstructured() (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
