package controllers

import (
	"context"
	"errors"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrScopeUnknown is what Covers returns when the validating webhook configuration that sets
// the scope is missing and no earlier version of it was seen since the process started. The
// controllers then leave every budget as it is: they neither create nor delete.
var ErrScopeUnknown = errors.New("the ValidatingWebhookConfiguration that sets Stowage's namespaces is missing and none was seen since start; leaving budgets as they are")

// NamespaceScope tells the controllers which namespaces Stowage acts in: exactly those its
// validating webhook configuration selects. A namespace the install excludes (kube-system, the
// release's own, the chart's excludeNamespaces and namespaceSelectorExpressions) gets no
// admission and so no budget either.
//
// Deleting the configuration (the usual break-glass step) never widens the scope: the scope
// stays the last one seen, and a process that never saw one acts nowhere (ErrScopeUnknown).
// Only with ConfigName "" (a local run that installs no configuration) is every namespace in
// scope.
type NamespaceScope struct {
	Reader client.Reader
	// ConfigName is the ValidatingWebhookConfiguration's name; "" puts every namespace in scope.
	ConfigName string

	mu   sync.Mutex
	last []*metav1.LabelSelector // namespace selectors of the last configuration seen
	seen bool
}

// Covers reports whether Stowage acts in the namespace, whose labels are given.
func (s *NamespaceScope) Covers(ctx context.Context, nsLabels map[string]string) (bool, error) {
	if s == nil || s.ConfigName == "" {
		return true, nil
	}
	selectors, err := s.selectors(ctx)
	if err != nil {
		return false, err
	}
	for _, ns := range selectors {
		if ns == nil {
			return true, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(ns)
		if err != nil {
			continue
		}
		if sel.Matches(labels.Set(nsLabels)) {
			return true, nil
		}
	}
	return false, nil
}

// selectors returns the namespace selectors of the configuration's webhooks, or of the last
// version seen when it is gone.
func (s *NamespaceScope) selectors(ctx context.Context) ([]*metav1.LabelSelector, error) {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	err := s.Reader.Get(ctx, client.ObjectKey{Name: s.ConfigName}, cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case apierrors.IsNotFound(err):
		if !s.seen {
			return nil, ErrScopeUnknown
		}
		return s.last, nil
	case err != nil:
		return nil, err
	}
	last := make([]*metav1.LabelSelector, len(cfg.Webhooks))
	for i, w := range cfg.Webhooks {
		last[i] = w.NamespaceSelector.DeepCopy()
	}
	s.last, s.seen = last, true
	return last, nil
}
