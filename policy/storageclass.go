package policy

import storagev1 "k8s.io/api/storage/v1"

// Annotations that mark the cluster's default StorageClass.
const (
	DefaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// DefaultStorageClass returns the name of the class the API server's DefaultStorageClass
// plugin would pick: among those annotated default (GA or beta annotation), the newest, then
// the lexically smallest name. It returns "" when there is none. Callers use it to build Facts.
func DefaultStorageClass(classes []*storagev1.StorageClass) string {
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc == nil || sc.Annotations[DefaultClassAnnotation] != "true" && sc.Annotations[BetaDefaultClassAnnotation] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name {
			best = sc
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}
