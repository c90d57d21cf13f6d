package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

const (
	// KwokNodeAnnotation marks a Node as fake; kwok manages the Nodes on which it is
	// KwokNodeAnnotationValue and leaves every other Node alone.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// KwokNodeAnnotationValue is the value of KwokNodeAnnotation on fake Nodes.
	KwokNodeAnnotationValue = "fake"

	// HeartbeatStoppedHolder is the holder identity StopNodeHeartbeat writes into a node's
	// Lease. kwok leaves a Node whose Lease someone else holds alone, as if its kubelet died.
	HeartbeatStoppedHolder = "stowage-e2e/heartbeat-stopped"

	// nodeWaitTimeout bounds how long the node helpers wait, within their context.
	nodeWaitTimeout = 60 * time.Second
)

// NodeSpec describes a fake Node for CreateNodes.
type NodeSpec struct {
	// Name is the Node's name and its kubernetes.io/hostname label.
	Name string
	// Zone is its topology.kubernetes.io/zone label; empty leaves the label off.
	Zone string
	// Labels are added to the standard ones and may override them.
	Labels map[string]string
	// Taints are set on the Node.
	Taints []corev1.Taint
	// Unschedulable cordons the Node.
	Unschedulable bool
}

// Node returns the Node object CreateNodes creates for s: annotated kwok.x-k8s.io/node=fake,
// labelled with its hostname, zone, kubernetes.io/os=linux and kubernetes.io/arch=amd64, with
// 32 CPUs, 256Gi of memory, 1Ti of ephemeral storage and room for 110 Pods. It carries no conditions; kwok adds them.
func (s NodeSpec) Node() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   s.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	if s.Zone != "" {
		labels[corev1.LabelTopologyZone] = s.Zone
	}
	maps.Copy(labels, s.Labels)
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
		// Charts request ephemeral storage (Bitnami presets do); fake nodes must offer some.
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.Name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: KwokNodeAnnotationValue},
		},
		Spec: corev1.NodeSpec{
			Taints:        slices.Clone(s.Taints),
			Unschedulable: s.Unschedulable,
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources.DeepCopy(),
		},
	}
}

// CreateNodes creates fake Nodes and waits until each is Ready and free of the not-ready
// taint that kube-apiserver puts on every new Node.
//
// With Options.Scheduling kwok marks them Ready and keeps their Leases fresh, and the node
// lifecycle controller lifts the taint. With Options.FakeKubelets kwok marks them Ready and
// CreateNodes lifts the taint. With neither, nothing would, so CreateNodes does both itself:
// the Nodes are then plain objects, ready for admission tests that read them.
func (c *Cluster) CreateNodes(ctx context.Context, specs []NodeSpec) error {
	nodes := c.Clientset.CoreV1().Nodes()
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		if s.Name == "" {
			return errors.New("create nodes: a node spec has no name")
		}
		node := s.Node()
		if !c.opts.runsKwok() {
			now := metav1.Now()
			node.Status.Conditions = []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "fake node made ready by the e2e harness", LastHeartbeatTime: now, LastTransitionTime: now,
			}}
		}
		if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", s.Name, err)
		}
		if !c.opts.Scheduling {
			if err := c.removeTaint(ctx, s.Name, corev1.TaintNodeNotReady); err != nil {
				return err
			}
		}
		names = append(names, s.Name)
	}
	return c.WaitNodesReady(ctx, names...)
}

// WaitNodesReady waits until the named Nodes are Ready and carry neither the not-ready nor the
// unreachable taint and, when kwok runs, kwok holds their Leases, for at most a
// minute.
func (c *Cluster) WaitNodesReady(ctx context.Context, names ...string) error {
	pending := slices.Clone(names)
	err := WaitFor(ctx, nodeWaitTimeout, func() (bool, error) {
		var still []string
		for _, name := range pending {
			ready, err := c.nodeSettled(ctx, name)
			if err != nil {
				return false, err
			}
			if !ready {
				still = append(still, name)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes %s to be ready: %w", strings.Join(pending, ", "), err)
	}
	return nil
}

// nodeSettled reports whether a Node is Ready and untainted by the node lifecycle controller
// and, when kwok runs, whether kwok holds its Lease.
func (c *Cluster) nodeSettled(ctx context.Context, name string) (bool, error) {
	node, err := c.Clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("get node %s: %w", name, err)
	}
	if !nodeReady(node) || hasTaint(node, corev1.TaintNodeNotReady) || hasTaint(node, corev1.TaintNodeUnreachable) {
		return false, nil
	}
	if !c.opts.runsKwok() {
		return true, nil
	}
	lease, err := c.Clientset.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get lease of node %s: %w", name, err)
	}
	holder := lease.Spec.HolderIdentity
	return holder != nil && *holder != "" && *holder != HeartbeatStoppedHolder, nil
}

// DeleteNode deletes a Node and waits until it is gone. Its Lease goes with it. Pods bound to
// it are left to the pod garbage collector, which deletes them about 40 s later, as when a
// machine is removed from a real cluster.
func (c *Cluster) DeleteNode(ctx context.Context, name string) error {
	nodes := c.Clientset.CoreV1().Nodes()
	if err := nodes.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	err := WaitFor(ctx, nodeWaitTimeout, func() (bool, error) {
		_, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("wait for node %s to be deleted: %w", name, err)
	}
	return nil
}

// StopNodeHeartbeat makes a fake Node behave as if its kubelet died: it takes over the Node's
// Lease in kube-node-lease (holder HeartbeatStoppedHolder, valid for a year), after which kwok
// neither renews the Lease nor updates the Node or its Pods. The node lifecycle controller
// then marks the Node Ready=Unknown and taints it unreachable once
// --node-monitor-grace-period (50 s by default; set it with Options.ExtraArgs) has passed
// without a renewal. It needs kwok (Options.Scheduling or Options.FakeKubelets); with
// FakeKubelets alone no node lifecycle controller runs, so the Node only stops being renewed
// and never turns Unknown or tainted.
func (c *Cluster) StopNodeHeartbeat(ctx context.Context, name string) error {
	if !c.opts.runsKwok() {
		return errors.New("stop node heartbeat: kwok is not running (Options.Scheduling and Options.FakeKubelets are off)")
	}
	leases := c.Clientset.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	holder := HeartbeatStoppedHolder
	year := int32(365 * 24 * 60 * 60)
	// kwok may create the Lease between the Get and the Create: retry on that as on a conflict.
	conflict := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(retry.DefaultRetry, conflict, func() error {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &year, RenewTime: &now},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		lease.Spec.HolderIdentity = &holder
		lease.Spec.LeaseDurationSeconds = &year
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("stop heartbeat of node %s: take over its lease: %w", name, err)
	}
	return nil
}

// ResumeNodeHeartbeat undoes StopNodeHeartbeat: it releases the Node's Lease, which kwok takes
// back within about 10 s and then marks the Node Ready again. Wait for that with
// WaitNodesReady.
func (c *Cluster) ResumeNodeHeartbeat(ctx context.Context, name string) error {
	if !c.opts.runsKwok() {
		return errors.New("resume node heartbeat: kwok is not running (Options.Scheduling and Options.FakeKubelets are off)")
	}
	leases := c.Clientset.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != HeartbeatStoppedHolder {
			return nil // not stopped, or kwok already took it back
		}
		lease.Spec.HolderIdentity = nil
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("resume heartbeat of node %s: release its lease: %w", name, err)
	}
	return nil
}

// removeTaint removes every taint with the given key from a Node.
func (c *Cluster) removeTaint(ctx context.Context, name, key string) error {
	nodes := c.Clientset.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !hasTaint(node, key) {
			return nil
		}
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
		_, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove taint %s from node %s: %w", key, name, err)
	}
	return nil
}

// hasTaint reports whether node has a taint with the given key.
func hasTaint(node *corev1.Node, key string) bool {
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}

// WaitInterval is how often WaitFor evaluates its condition.
const WaitInterval = 100 * time.Millisecond

// WaitFor evaluates cond every WaitInterval until it returns true, returns an error, or timeout
// passes or ctx ends. A condition that wants to ride out transient errors returns false, nil
// for them.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(WaitInterval)
	defer ticker.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met within %s: %w", timeout, ctx.Err())
		case <-ticker.C:
		}
	}
}
