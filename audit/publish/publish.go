// Package publish writes the audit's PolicyReports to a cluster: it creates or updates
// Stowage's report in each audited namespace, deletes its reports that no longer have a
// namespace in the audit, and never touches a report it does not own. It installs the
// PolicyReport CRD only when asked.
//
// It may import the standard library, k8s.io/apimachinery, client-go's dynamic client and pager,
// sigs.k8s.io/yaml and package audit (the reports it writes).
package publish

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/pager"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/audit"
)

//go:embed policyreport-crd.yaml
var crdYAML []byte

var (
	// Resource is the resource of wgpolicyk8s.io/v1alpha2 PolicyReports.
	Resource = audit.PolicyReportGroupVersion.WithResource("policyreports")
	crds     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// ErrNoCRD means the cluster does not serve PolicyReports.
var ErrNoCRD = fmt.Errorf("the cluster does not serve wgpolicyk8s.io/v1alpha2 PolicyReports; install their CRD (Kyverno and Policy Reporter ship it) or pass --install-policy-report-crd")

// Options control a publication.
type Options struct {
	// Namespace is the audited namespace, or "" for all: stale reports are only deleted within it.
	Namespace string
	// InstallCRD creates the PolicyReport CRD when the cluster lacks it.
	InstallCRD bool
}

// Result says what a publication did.
type Result struct {
	Created, Updated, Unchanged, Deleted []string
	// Skipped names reports that have Stowage's name but not its label: someone else's.
	Skipped []string
}

// PolicyReports writes reports, one per namespace, idempotently.
func PolicyReports(ctx context.Context, dyn dynamic.Interface, reports []*audit.PolicyReport, opts Options) (*Result, error) {
	if err := ensureCRD(ctx, dyn, opts.InstallCRD); err != nil {
		return nil, err
	}
	res := &Result{}
	want := map[string]bool{}
	for _, r := range reports {
		want[r.Namespace] = true
		u, err := r.Unstructured()
		if err != nil {
			return res, err
		}
		client := dyn.Resource(Resource).Namespace(r.Namespace)
		key := r.Namespace + "/" + r.Name
		current, err := client.Get(ctx, r.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := client.Create(ctx, u, metav1.CreateOptions{FieldManager: "stowage"}); err != nil {
				return res, fmt.Errorf("creating PolicyReport %s: %w", key, err)
			}
			res.Created = append(res.Created, key)
			continue
		case err != nil:
			return res, fmt.Errorf("reading PolicyReport %s: %w", key, err)
		}
		if !owned(current) {
			res.Skipped = append(res.Skipped, key)
			continue
		}
		if sameContent(current, u) {
			res.Unchanged = append(res.Unchanged, key)
			continue
		}
		u.SetResourceVersion(current.GetResourceVersion())
		if _, err := client.Update(ctx, u, metav1.UpdateOptions{FieldManager: "stowage"}); err != nil {
			return res, fmt.Errorf("updating PolicyReport %s: %w", key, err)
		}
		res.Updated = append(res.Updated, key)
	}
	// Reports of Stowage's in namespaces that have nothing left to audit are stale. The pager
	// follows continue tokens, so a cluster with more reports than one page still loses them all.
	pages := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return dyn.Resource(Resource).Namespace(opts.Namespace).List(ctx, o)
	})
	pages.PageSize = 500
	err := pages.EachListItem(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=stowage"}, func(obj runtime.Object) error {
		item, ok := obj.(*unstructured.Unstructured)
		if !ok || item.GetName() != audit.PolicyReportName || want[item.GetNamespace()] || !owned(item) {
			return nil
		}
		if err := dyn.Resource(Resource).Namespace(item.GetNamespace()).Delete(ctx, item.GetName(),
			metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(item.GetUID()))}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting stale PolicyReport %s/%s: %w", item.GetNamespace(), item.GetName(), err)
		}
		res.Deleted = append(res.Deleted, item.GetNamespace()+"/"+item.GetName())
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("removing stale PolicyReports: %w", err)
	}
	return res, nil
}

func owned(u *unstructured.Unstructured) bool {
	return u.GetLabels()["app.kubernetes.io/managed-by"] == "stowage"
}

// sameContent compares what Stowage writes, ignoring the timestamps of the results.
func sameContent(current, desired *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		delete(c, "metadata")
		if results, ok := c["results"].([]any); ok {
			for _, r := range results {
				if m, ok := r.(map[string]any); ok {
					delete(m, "timestamp")
				}
			}
		}
		return c
	}
	return equality.Semantic.DeepEqual(strip(current), strip(desired)) &&
		equality.Semantic.DeepEqual(current.GetLabels(), desired.GetLabels())
}

// ensureCRD checks that PolicyReports are served, installing the CRD when allowed.
func ensureCRD(ctx context.Context, dyn dynamic.Interface, install bool) error {
	_, err := dyn.Resource(Resource).List(ctx, metav1.ListOptions{Limit: 1})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
		return fmt.Errorf("checking for PolicyReports: %w", err)
	}
	if !install {
		return ErrNoCRD
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(crdYAML, &crd.Object); err != nil {
		return fmt.Errorf("the embedded PolicyReport CRD: %w", err)
	}
	if _, err := dyn.Resource(crds).Create(ctx, crd, metav1.CreateOptions{FieldManager: "stowage"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("installing the PolicyReport CRD: %w", err)
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = dyn.Resource(Resource).List(ctx, metav1.ListOptions{Limit: 1})
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("the PolicyReport CRD is installed but not served: %w", last)
	}
	return err
}
