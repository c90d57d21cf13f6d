package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

func vctClass(class *string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = class }
}

func TestStorageClassStatefulSet(t *testing.T) {
	enforce := func(allowed ...string) *v1alpha1.PlacementPolicy {
		return testPolicy(func(s *v1alpha1.PlacementPolicySpec) {
			s.Storage.Mode = v1alpha1.Enforce
			s.Storage.AllowedClassNames = allowed
		})
	}
	tests := []struct {
		name      string
		sts       *appsv1.StatefulSet
		policy    *v1alpha1.PlacementPolicy
		wantClass []*string
		want      []string
	}{
		{
			name:      "template without storageClassName → filled with openebs-hostpath",
			sts:       statefulSet(),
			wantClass: []*string{ptrTo("openebs-hostpath")},
			want:      []string{},
		},
		{
			name:      "explicit empty class means static binding → kept",
			sts:       statefulSet(vctClass(ptrTo(""))),
			wantClass: []*string{ptrTo("")},
			want:      []string{},
		},
		{
			name:      "explicit other class in fill mode → kept",
			sts:       statefulSet(vctClass(ptrTo("fast-ssd"))),
			wantClass: []*string{ptrTo("fast-ssd")},
			want:      []string{},
		},
		{
			name:      "explicit class outside the allowed list in enforce mode → rejected at the field",
			sts:       statefulSet(vctClass(ptrTo("fast-ssd"))),
			policy:    enforce("local-nvme"),
			wantClass: []*string{ptrTo("fast-ssd")},
			want:      []string{"StorageClassNotAllowed error spec.volumeClaimTemplates[0].spec.storageClassName"},
		},
		{
			name:      "allowed class in enforce mode → kept",
			sts:       statefulSet(vctClass(ptrTo("local-nvme"))),
			policy:    enforce("local-nvme"),
			wantClass: []*string{ptrTo("local-nvme")},
			want:      []string{},
		},
		{
			name:      "the policy's own class is always allowed in enforce mode",
			sts:       statefulSet(vctClass(ptrTo("openebs-hostpath"))),
			policy:    enforce(),
			wantClass: []*string{ptrTo("openebs-hostpath")},
			want:      []string{},
		},
		{
			name:      "unset class in enforce mode → filled",
			sts:       statefulSet(),
			policy:    enforce(),
			wantClass: []*string{ptrTo("openebs-hostpath")},
			want:      []string{},
		},
		{
			name: "class named by the legacy beta annotation → not filled",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.VolumeClaimTemplates[0].Annotations = map[string]string{"volume.beta.kubernetes.io/storage-class": "gold"}
			}),
			wantClass: []*string{nil},
			want:      []string{},
		},
		{
			name: "template with a volume selector binds statically → not filled",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.VolumeClaimTemplates[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "a"}}
			}),
			wantClass: []*string{nil},
			want:      []string{},
		},
		{
			name: "template cloned from a snapshot (dataSource) → not filled: only a CSI driver can restore it",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				s.Spec.VolumeClaimTemplates[0].Spec.DataSource = &corev1.TypedLocalObjectReference{
					APIGroup: ptrTo("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "nightly"}
			}),
			wantClass: []*string{nil},
			want:      []string{},
		},
		{
			name: "two templates, one with a class → only the other filled",
			sts: statefulSet(func(s *appsv1.StatefulSet) {
				logs := *s.Spec.VolumeClaimTemplates[0].DeepCopy()
				logs.Name = "logs"
				logs.Spec.StorageClassName = ptrTo("standard")
				s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates, logs)
			}),
			wantClass: []*string{ptrTo("openebs-hostpath"), ptrTo("standard")},
			want:      []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := create(t, tc.sts, p, Facts{})
			var got []*string
			for _, v := range res.StatefulSet().Spec.VolumeClaimTemplates {
				got = append(got, v.Spec.StorageClassName)
			}
			if diff := cmp.Diff(tc.wantClass, got); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, ruleHits(storageOnly(res.Violations))); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func storageOnly(vs []Violation) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Rule == RuleStorageClassNotAllowed || v.Rule == RuleStorageClassUnset {
			out = append(out, v)
		}
	}
	return out
}

func TestStorageClassStatefulSetUpdateNeverTouchesTemplates(t *testing.T) {
	old := statefulSet()
	scaled := statefulSet(replicas(5))
	res := evaluate(t, Request{Operation: Update, Object: scaled, OldObject: old}, testPolicy(), Facts{})
	if c := res.StatefulSet().Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c != nil {
		t.Fatalf("update filled the immutable claim template's class: %q", *c)
	}
	if diff := cmp.Diff([]string{"StorageClassUnset warning spec.volumeClaimTemplates[0].spec.storageClassName"}, ruleHits(storageOnly(res.Violations))); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestStorageClassClaim(t *testing.T) {
	treatDefault := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.Storage.TreatDefaultClassAsUnset = true })
	tests := []struct {
		name         string
		op           Operation
		pvc          *corev1.PersistentVolumeClaim
		policy       *v1alpha1.PlacementPolicy
		defaultClass string
		wantClass    *string
		want         []string
	}{
		{
			name:      "standalone claim without a class → filled",
			op:        Create,
			pvc:       claim(),
			wantClass: ptrTo("openebs-hostpath"),
			want:      []string{},
		},
		{
			name:         "claim given the cluster default by the API server, option off → kept",
			op:           Create,
			pvc:          claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptrTo("standard") }),
			defaultClass: "standard",
			wantClass:    ptrTo("standard"),
			want:         []string{},
		},
		{
			name:         "claim given the cluster default by the API server, option on → replaced",
			op:           Create,
			pvc:          claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptrTo("standard") }),
			policy:       treatDefault,
			defaultClass: "standard",
			wantClass:    ptrTo("openebs-hostpath"),
			want:         []string{},
		},
		{
			name:         "option on, claim names a non-default class → kept",
			op:           Create,
			pvc:          claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptrTo("fast") }),
			policy:       treatDefault,
			defaultClass: "standard",
			wantClass:    ptrTo("fast"),
			want:         []string{},
		},
		{
			name:      "claim pre-bound to a volume → not filled, it must match the volume's class",
			op:        Create,
			pvc:       claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-7" }),
			wantClass: nil,
			want:      []string{},
		},
		{
			name: "claim filled by a populator (dataSourceRef) → not filled",
			op:   Create,
			pvc: claim(func(c *corev1.PersistentVolumeClaim) {
				c.Spec.DataSourceRef = &corev1.TypedObjectReference{Kind: "PersistentVolumeClaim", Name: "source"}
			}),
			wantClass: nil,
			want:      []string{},
		},
		{
			name: "enforce mode, claim names a class outside the list → rejected",
			op:   Create,
			pvc:  claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptrTo("nfs") }),
			policy: testPolicy(func(s *v1alpha1.PlacementPolicySpec) {
				s.Storage.Mode = v1alpha1.Enforce
			}),
			wantClass: ptrTo("nfs"),
			want:      []string{"StorageClassNotAllowed error spec.storageClassName"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = testPolicy()
			}
			res := evaluate(t, Request{Operation: tc.op, Object: tc.pvc}, p, Facts{DefaultStorageClass: tc.defaultClass})
			if diff := cmp.Diff(tc.wantClass, res.PersistentVolumeClaim().Spec.StorageClassName); diff != "" {
				t.Errorf("class (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, ruleHits(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStorageClassClaimFromATemplate(t *testing.T) {
	enforce := testPolicy(func(s *v1alpha1.PlacementPolicySpec) { s.Storage.Mode = v1alpha1.Enforce })
	legacy := statefulSet(vctClass(ptrTo("nfs")))
	made := claim(func(c *corev1.PersistentVolumeClaim) { c.Name = "data-db-3"; c.Spec.StorageClassName = ptrTo("nfs") })
	res := create(t, made, enforce, Facts{StatefulSets: []*appsv1.StatefulSet{legacy}})
	if diff := cmp.Diff([]string{"StorageClassNotAllowed warning spec.storageClassName"}, ruleHits(res.Violations)); diff != "" {
		t.Errorf("a claim made from an admitted template (-want +got):\n%s", diff)
	}
	standalone := claim(func(c *corev1.PersistentVolumeClaim) {
		c.Name = "data-db-extra"
		c.Spec.StorageClassName = ptrTo("nfs")
	})
	res = create(t, standalone, enforce, Facts{StatefulSets: []*appsv1.StatefulSet{legacy}})
	if diff := cmp.Diff([]string{"StorageClassNotAllowed error spec.storageClassName"}, ruleHits(res.Violations)); diff != "" {
		t.Errorf("a claim that only looks like one (-want +got):\n%s", diff)
	}
}

func TestStorageClassClaimUpdateIsNeverPatched(t *testing.T) {
	old := claim()
	grown := claim(func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"grown": "yes"} })
	res := evaluate(t, Request{Operation: Update, Object: grown, OldObject: old}, testPolicy(), Facts{})
	if res.PersistentVolumeClaim().Spec.StorageClassName != nil {
		t.Fatal("update changed the claim's immutable spec")
	}
	if diff := cmp.Diff([]string{"StorageClassUnset warning spec.storageClassName"}, ruleHits(res.Violations)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
