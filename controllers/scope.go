package controllers

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NamespaceScope tells the controllers which namespaces Stowage acts in: exactly those its
// validating webhook configuration selects. A namespace the install excludes (kube-system, the
// release's own, the chart's excludeNamespaces and namespaceSelectorExpressions) gets no
// admission and so no budget either. Without the configuration, as in a local run that
// installs none, every namespace but kube-system, kube-public and kube-node-lease is in scope.
type NamespaceScope struct {
	Reader client.Reader
	// ConfigName is the ValidatingWebhookConfiguration's name; "" puts every namespace in scope.
	ConfigName string
}

// Covers reports whether Stowage acts in the namespace, whose labels are given.
func (s *NamespaceScope) Covers(ctx context.Context, nsLabels map[string]string) (bool, error) {
	if s == nil || s.ConfigName == "" {
		return true, nil
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Name: s.ConfigName}, cfg); err != nil {
		if apierrors.IsNotFound(err) {
			switch nsLabels[corev1.LabelMetadataName] {
			case metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease:
				return false, nil
			}
			return true, nil
		}
		return false, err
	}
	for _, w := range cfg.Webhooks {
		if w.NamespaceSelector == nil {
			return true, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
		if err != nil {
			continue
		}
		if sel.Matches(labels.Set(nsLabels)) {
			return true, nil
		}
	}
	return false, nil
}
