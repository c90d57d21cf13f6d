package policy

import (
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefaultStorageClass(t *testing.T) {
	at := func(name string, age time.Duration, ann string) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))}}
		if ann != "" {
			sc.Annotations = map[string]string{ann: "true"}
		}
		return sc
	}
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		want    string
	}{
		{"none annotated → none", []*storagev1.StorageClass{at("a", 0, "")}, ""},
		{"one default → it", []*storagev1.StorageClass{at("a", 0, ""), at("b", 0, DefaultClassAnnotation)}, "b"},
		{"the beta annotation counts", []*storagev1.StorageClass{at("old", 0, BetaDefaultClassAnnotation)}, "old"},
		{"two defaults → the newest", []*storagev1.StorageClass{at("older", time.Hour, DefaultClassAnnotation), at("newer", 0, DefaultClassAnnotation)}, "newer"},
		{"two defaults of the same age → the smallest name, whatever the order", []*storagev1.StorageClass{at("zz", 0, DefaultClassAnnotation), at("aa", 0, DefaultClassAnnotation)}, "aa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultStorageClass(tc.classes); got != tc.want {
				t.Errorf("DefaultStorageClass = %q, want %q", got, tc.want)
			}
		})
	}
}
