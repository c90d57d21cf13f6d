package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of PlacementPolicy.
var GroupVersion = schema.GroupVersion{Group: "stowage.dev", Version: "v1alpha1"}

// Kind is the kind of a PlacementPolicy.
const Kind = "PlacementPolicy"

var (
	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &PlacementPolicy{}, &PlacementPolicyList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
