package policy

// Rules StorageClassNotAllowed and StorageClassUnset.
//
// Reads: spec.volumeClaimTemplates[*].spec.storageClassName and the legacy
// volume.beta.kubernetes.io/storage-class annotation of each template (StatefulSets);
// spec.storageClassName, spec.volumeName and spec.selector (PersistentVolumeClaims); the policy's
// spec.storage; the cluster's default StorageClass from the facts.
// Writes: on Create, the same storageClassName fields; on Update, only the stored class back
// into a claim (template) that the update left without one.
//
// Node-local volumes only protect data if every claim really lands on the node-local class.
// Like the in-tree DefaultStorageClass plugin, the mutation fills a class only where none is
// named: an explicit class, including "" (static binding to a pre-provisioned volume), is the
// user's choice and is kept. Claims bound to a named volume or a volume selector are left alone,
// because a class that differs from the volume's would stop them binding, and so are claims with
// a dataSource or dataSourceRef, which only a CSI driver can populate. In Enforce mode an
// explicit class outside the allowed list is reported. Claim templates and claim specs are
// immutable, so an existing object without a class is only reported.

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

const (
	// RuleStorageClassNotAllowed reports an explicit class that an Enforce policy does not allow.
	RuleStorageClassNotAllowed RuleID = "StorageClassNotAllowed"
	// RuleStorageClassUnset reports an existing claim (template) that names no class.
	RuleStorageClassUnset RuleID = "StorageClassUnset"
)

// betaStorageClassAnnotation is the pre-1.6 way to name a class; the API server still honours it.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// claimClass returns the class a claim names, and whether it names one.
func init() {
	addChecker(&checker{
		rules: []RuleInfo{
			{ID: RuleStorageClassNotAllowed, Severity: SeverityError,
				Summary: "an explicit storage class must be one the policy allows"},
			{ID: RuleStorageClassUnset, Severity: SeverityWarning,
				Summary: "claims should name a storage class; the cluster default is not node-local storage"},
		},
		mutate:        mutateStorageClass,
		preserve:      preserveStorageClass,
		check:         checkStorageClass,
		mutateClaim:   mutateClaimStorageClass,
		preserveClaim: preserveClaimStorageClass,
		checkClaim:    checkClaimStorageClass,
	})
}

func claimClass(meta map[string]string, spec *corev1.PersistentVolumeClaimSpec) (string, bool) {
	if spec.StorageClassName != nil {
		return *spec.StorageClassName, true
	}
	if c, ok := meta[betaStorageClassAnnotation]; ok {
		return c, true
	}
	return "", false
}

// staticallyBound reports whether a claim asks for a particular pre-provisioned volume, or for
// a volume filled from a source (dataSource or dataSourceRef: a clone, a snapshot restore, a
// volume populator). A source needs a CSI driver that can populate it; openebs-hostpath and the
// other node-local provisioners are not one, so filling their class would leave such a claim
// Pending for good. Those claims are left to the class the user or the cluster default picks.
func staticallyBound(spec *corev1.PersistentVolumeClaimSpec) bool {
	return spec.VolumeName != "" || spec.Selector != nil || spec.DataSource != nil || spec.DataSourceRef != nil
}

func mutateStorageClass(c *context) {
	for i := range c.sts.Spec.VolumeClaimTemplates {
		t := &c.sts.Spec.VolumeClaimTemplates[i]
		if _, named := claimClass(t.Annotations, &t.Spec); named || staticallyBound(&t.Spec) {
			continue
		}
		t.Spec.StorageClassName = ptrTo(c.policy.Storage.ClassName)
	}
}

func checkStorageClass(c *context) {
	for i := range c.sts.Spec.VolumeClaimTemplates {
		t := &c.sts.Spec.VolumeClaimTemplates[i]
		p := pathVCTs.Index(i).Child("spec", "storageClassName")
		checkClass(c, p, t.Annotations, &t.Spec, "claim template")
	}
}

func mutateClaimStorageClass(c *context) {
	spec := &c.pvc.Spec
	if staticallyBound(spec) {
		return
	}
	class, named := claimClass(c.pvc.Annotations, spec)
	if named && !(c.policy.Storage.TreatDefaultClassAsUnset && spec.StorageClassName != nil &&
		class != "" && class == c.facts.DefaultStorageClass) {
		return
	}
	spec.StorageClassName = ptrTo(c.policy.Storage.ClassName)
}

func checkClaimStorageClass(c *context) {
	before := len(c.found)
	checkClass(c, pathSpec.Child("storageClassName"), c.pvc.Annotations, &c.pvc.Spec, "claim")
	if len(c.found) > before && madeFromTemplate(c.pvc, c.facts.StatefulSets) {
		for i := before; i < len(c.found); i++ {
			if c.found[i].Rule == RuleStorageClassNotAllowed {
				c.found[i].Severity = SeverityWarning
				c.found[i].Message += "; this claim follows its StatefulSet's claim template, which is immutable, " +
					"so it is not rejected: recreate the StatefulSet with an allowed class"
			}
		}
	}
}

// madeFromTemplate reports whether a claim is one a StatefulSet makes from a claim template
// (named <template>-<statefulset>-<ordinal>) with the same class.
func madeFromTemplate(pvc *corev1.PersistentVolumeClaim, sets []*appsv1.StatefulSet) bool {
	for _, s := range sets {
		if s.Namespace != pvc.Namespace {
			continue
		}
		for i := range s.Spec.VolumeClaimTemplates {
			t := &s.Spec.VolumeClaimTemplates[i]
			prefix := t.Name + "-" + s.Name + "-"
			ordinal, ok := strings.CutPrefix(pvc.Name, prefix)
			if !ok || ordinal == "" || strings.Trim(ordinal, "0123456789") != "" {
				continue
			}
			want, _ := claimClass(t.Annotations, &t.Spec)
			have, _ := claimClass(pvc.Annotations, &pvc.Spec)
			if want == have {
				return true
			}
		}
	}
	return false
}

func checkClass(c *context, p *field.Path, annotations map[string]string, spec *corev1.PersistentVolumeClaimSpec, what string) {
	class, named := claimClass(annotations, spec)
	s := &c.policy.Storage
	switch {
	case !named && !staticallyBound(spec):
		c.report(RuleStorageClassUnset, SeverityWarning, p,
			"this %s names no storage class, so the cluster default applies instead of %s; "+
				"it is immutable, so recreate it with storageClassName: %s", what, s.ClassName, s.ClassName)
	case named && class != "" && s.Mode == v1alpha1.Enforce && class != s.ClassName && !slices.Contains(s.AllowedClassNames, class):
		c.report(RuleStorageClassNotAllowed, SeverityError, p,
			"storage class must be %s; remove storageClassName to get %s, "+
				"or ask a cluster administrator to add this class to the policy's spec.storage.allowedClassNames",
			allowedList(s), s.ClassName)
	}
}

func allowedList(s *v1alpha1.StorageSpec) string {
	names := []string{s.ClassName}
	for _, a := range s.AllowedClassNames {
		if !slices.Contains(names, a) {
			names = append(names, a)
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// preserveStorageClass keeps a claim template's stored class when an update drops it. Claim
// templates are immutable, so without this a re-applied chart that leaves the class unset
// (client-side apply replaces the whole list) fails with "field is immutable".
func preserveStorageClass(c *context, old *appsv1.StatefulSet) {
	for i := range c.sts.Spec.VolumeClaimTemplates {
		t := &c.sts.Spec.VolumeClaimTemplates[i]
		if _, named := claimClass(t.Annotations, &t.Spec); named {
			continue
		}
		for j := range old.Spec.VolumeClaimTemplates {
			o := &old.Spec.VolumeClaimTemplates[j]
			if o.Name == t.Name && o.Spec.StorageClassName != nil {
				t.Spec.StorageClassName = ptrTo(*o.Spec.StorageClassName)
			}
		}
	}
}

// preserveClaimStorageClass keeps a standalone claim's stored class when an update drops it;
// the claim's spec is immutable.
func preserveClaimStorageClass(c *context, old *corev1.PersistentVolumeClaim) {
	if c.pvc.Spec.StorageClassName == nil && old.Spec.StorageClassName != nil {
		c.pvc.Spec.StorageClassName = ptrTo(*old.Spec.StorageClassName)
	}
}
