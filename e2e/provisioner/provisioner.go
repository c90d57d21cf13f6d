package provisioner

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const (
	// Name is the provisioner name that StorageClasses refer to, the same as OpenEBS local
	// hostpath's.
	Name = "openebs.io/local"

	// StorageClassName is the name of the StorageClass that StorageClass returns, the one the
	// OpenEBS chart installs.
	StorageClassName = "openebs-hostpath"

	// BasePath is the folder on the node under which each volume gets a folder named after its
	// PersistentVolume.
	BasePath = "/var/openebs/local"

	// HostnameLabel is the node label that a provisioned volume's node affinity matches.
	HostnameLabel = corev1.LabelHostname

	// CASTypeLabel is the label OpenEBS puts on the volumes it provisions; this provisioner sets
	// it to CASTypeHostpath as well so that suites can find its volumes.
	CASTypeLabel = "openebs.io/cas-type"

	// CASTypeHostpath is the value of CASTypeLabel on every volume this provisioner creates.
	CASTypeHostpath = "local-hostpath"
)

// StorageClass returns a new openebs-hostpath StorageClass: provisioner openebs.io/local,
// volumeBindingMode WaitForFirstConsumer and reclaimPolicy Delete. It is not marked as the
// cluster's default class; a suite that needs a default sets the annotation itself.
func StorageClass() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name: StorageClassName,
			Annotations: map[string]string{
				"cas.openebs.io/config": "- name: StorageType\n  value: \"hostpath\"\n- name: BasePath\n  value: \"" + BasePath + "\"\n",
			},
		},
		Provisioner:       Name,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
}

// NodeGetter returns the Node with the given name. Provision uses it to read the selected node's
// hostname label.
type NodeGetter func(ctx context.Context, name string) (*corev1.Node, error)

// Hostpath is the controller.Provisioner that creates node-pinned hostPath volumes. Build it
// with New; Start runs it inside the library's provision controller.
type Hostpath struct {
	getNode NodeGetter
}

var _ controller.Provisioner = (*Hostpath)(nil)

// New returns a Hostpath provisioner that reads nodes with getNode.
func New(getNode NodeGetter) (*Hostpath, error) {
	if getNode == nil {
		return nil, errors.New("provisioner: node getter is nil")
	}
	return &Hostpath{getNode: getNode}, nil
}

// Provision returns the PersistentVolume for one claim. The claim must come with a selected
// node, which it only has on a WaitForFirstConsumer class: a local volume provisioned before
// the scheduler chose a node would pin the pod to an arbitrary one. When the selected node is
// gone it asks the scheduler to choose again.
func (p *Hostpath) Provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if opts.PVC == nil || opts.StorageClass == nil {
		return nil, controller.ProvisioningFinished, errors.New("provisioner: options carry no claim or no storage class")
	}
	if opts.SelectedNodeName == "" {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s has no selected node: storage class %q must use volumeBindingMode WaitForFirstConsumer",
			opts.PVC.Namespace, opts.PVC.Name, opts.StorageClass.Name)
	}
	size, ok := opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok || size.IsZero() {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s requests no storage", opts.PVC.Namespace, opts.PVC.Name)
	}
	if len(opts.PVC.Spec.AccessModes) == 0 {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s has no access modes", opts.PVC.Namespace, opts.PVC.Name)
	}

	node, err := p.getNode(ctx, opts.SelectedNodeName)
	switch {
	case apierrors.IsNotFound(err):
		return nil, controller.ProvisioningReschedule, fmt.Errorf("selected node %q of claim %s/%s no longer exists: %w",
			opts.SelectedNodeName, opts.PVC.Namespace, opts.PVC.Name, err)
	case err != nil:
		return nil, controller.ProvisioningNoChange, fmt.Errorf("get selected node %q: %w", opts.SelectedNodeName, err)
	}
	hostname := node.Labels[HostnameLabel]
	if hostname == "" {
		return nil, controller.ProvisioningReschedule, fmt.Errorf("selected node %q has no %s label", node.Name, HostnameLabel)
	}

	reclaim := corev1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	fsMode := corev1.PersistentVolumeFilesystem
	dirOrCreate := corev1.HostPathDirectoryOrCreate

	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:   opts.PVName,
			Labels: map[string]string{CASTypeLabel: CASTypeHostpath},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), opts.PVC.Spec.AccessModes...),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              opts.StorageClass.Name,
			MountOptions:                  append([]string(nil), opts.StorageClass.MountOptions...),
			VolumeMode:                    &fsMode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{
					Path: path.Join(BasePath, opts.PVName),
					Type: &dirOrCreate,
				},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{
				Required: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{
							Key:      HostnameLabel,
							Operator: corev1.NodeSelectorOpIn,
							Values:   []string{hostname},
						}},
					}},
				},
			},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

// Delete releases a volume's storage. The nodes are fake, so there is nothing to remove and it
// always succeeds; the controller then deletes the PersistentVolume object.
func (p *Hostpath) Delete(context.Context, *corev1.PersistentVolume) error {
	return nil
}

// Controller is a running provision controller. Stop it with Stop.
type Controller struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start runs the provision controller for Name in goroutines until ctx is done or Stop is
// called. Leader election is off, and failed claims are retried after at most 5 s instead of the
// library's 15 s to 1000 s, so that tests don't wait on backoff. The controller logs through the
// klog/logr logger in ctx.
func Start(ctx context.Context, cs kubernetes.Interface) (*Controller, error) {
	if cs == nil {
		return nil, errors.New("provisioner: clientset is nil")
	}
	p, err := New(func(ctx context.Context, name string) (*corev1.Node, error) {
		return cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 5*time.Second),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(50), 100)},
	)
	var workers sync.WaitGroup
	pc := controller.NewProvisionController(ctx, cs, Name, p,
		controller.LeaderElection(false),
		controller.Threadiness(2),
		controller.RateLimiter(limiter),
		controller.CreateProvisionedPVInterval(time.Second),
		controller.FailedProvisionThreshold(0),
		controller.FailedDeleteThreshold(0),
	)
	pc.ControllerWaitGroup(&workers)

	c := &Controller{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		pc.Run(ctx)
		workers.Wait()
	}()
	return c, nil
}

// Stop stops the controller and waits for its workers to return. It is safe to call more than
// once.
func (c *Controller) Stop() {
	c.once.Do(c.cancel)
	<-c.done
}

// Done is closed once the controller has stopped, after ctx ended or Stop was called.
func (c *Controller) Done() <-chan struct{} {
	return c.done
}

// Run runs the provision controller until ctx is done and returns once its workers have
// stopped. It is Start and Stop in one blocking call, for `go provisioner.Run(ctx, cs)`.
func Run(ctx context.Context, cs kubernetes.Interface) error {
	c, err := Start(ctx, cs)
	if err != nil {
		return err
	}
	<-ctx.Done()
	c.Stop()
	return nil
}
