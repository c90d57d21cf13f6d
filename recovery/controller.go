// Package recovery is the controller that carries out policy.DecideRecovery: it rebuilds a
// StatefulSet replica whose node-local volume is pinned to a node that is gone, one step per
// reconcile, on the elected leader.
//
// It reads everything from the manager's cache, makes one call into policy per StatefulSet and
// performs the single step returned: annotate the StatefulSet, retain and annotate the old
// volume, delete the claim (UID precondition), delete the pod (UID precondition, and only once
// the API server confirms the claim is gone), finish. Every step is idempotent and the state
// between steps lives in the cluster, so a restart resumes where it stopped.
//
// It may import the standard library, Kubernetes API and client libraries, controller-runtime,
// Prometheus, Stowage's policy packages and internal/enqueue.
package recovery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/stowage-dev/stowage/internal/enqueue"
	"github.com/stowage-dev/stowage/policy"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// PolicyFor returns the defaulted, validated policy that selects a StatefulSet, or nil.
type PolicyFor func(ctx context.Context, sts *appsv1.StatefulSet) (*v1alpha1.PlacementPolicy, error)

// Reconciler recovers stranded replicas.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server, bypassing the cache: it confirms a claim is gone
	// before its pod is deleted.
	APIReader client.Reader
	Policy    PolicyFor
	Recorder  events.EventRecorder
	Metrics   *Metrics
	// MaxInFlight caps recoveries in flight across the cluster (policy.DefaultMaxRecoveries when 0).
	MaxInFlight int
	Now         func() time.Time
	// AfterStep, when set, is called after each step that changed the cluster, with its
	// action. The failure tests use it (stowage webhook's hidden --recovery-exit-after) to stop
	// the process at a step boundary and restart it.
	AfterStep func(policy.RecoveryAction)

	mu      sync.Mutex
	blocked map[string]string // sts/ordinal → guard last reported, to count and report changes once
}

// Metrics are the recovery counters.
type Metrics struct {
	started, succeeded *prometheus.CounterVec
	refused            *prometheus.CounterVec
	duration           prometheus.Histogram
	inFlight           prometheus.Gauge
}

// NewMetrics creates the recovery metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"namespace", "statefulset"}
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_recoveries_started_total",
			Help: "Recoveries of stranded replicas started."}, labels),
		succeeded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_recoveries_succeeded_total",
			Help: "Recoveries that ended with the replica Ready on a live node."}, labels),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_recoveries_refused_total",
			Help: "Times a guard refused or ended a recovery, by guard (QuorumLost, ClusterCap, OneAtATime, AwaitingApproval, RecoveryOff, PodNotUnschedulable, Uncertain, NodeBack)."},
			append(labels, "guard")),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stowage_recovery_duration_seconds",
			Help:    "Time from the start of a recovery to the replica being Ready on a live node.",
			Buckets: prometheus.ExponentialBuckets(5, 2, 10)}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stowage_recoveries_in_flight",
			Help: "StatefulSets with a recovery in flight."}),
	}
	reg.MustRegister(m.started, m.succeeded, m.refused, m.duration, m.inFlight)
	return m
}

// SetupWithManager registers the controller: a StatefulSet is reconciled when it, its pods, the
// claims or volumes of its namespace, or any node changes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("statefulset-recovery").
		For(&appsv1.StatefulSet{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &appsv1.StatefulSet{}, handler.OnlyControllerOwner())).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.inNamespaceOf)).
		Watches(&corev1.PersistentVolume{}, handler.EnqueueRequestsFromMapFunc(r.ofVolume)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(enqueue.All(r.Client))).
		Complete(r)
}

func (r *Reconciler) inNamespaceOf(ctx context.Context, o client.Object) []reconcile.Request {
	return enqueue.StatefulSets(ctx, r.Client, nil, client.InNamespace(o.GetNamespace()))
}

func (r *Reconciler) ofVolume(ctx context.Context, o client.Object) []reconcile.Request {
	pv, ok := o.(*corev1.PersistentVolume)
	if !ok || pv.Spec.ClaimRef == nil {
		return nil
	}
	return enqueue.StatefulSets(ctx, r.Client, nil, client.InNamespace(pv.Spec.ClaimRef.Namespace))
}

// Reconcile takes at most one recovery step for the StatefulSet.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	d, err := r.Step(ctx, req.NamespacedName)
	if err != nil || d == nil {
		return ctrl.Result{}, err
	}
	switch d.Action {
	case policy.RecoveryNone:
		if len(d.Replicas) > 0 {
			return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
		}
		return ctrl.Result{}, nil
	case policy.RecoveryWait:
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	return ctrl.Result{Requeue: true}, nil
}

// Step decides and takes at most one recovery step for the StatefulSet, and returns the
// decision it acted on (nil when the StatefulSet is gone or no policy selects it).
func (r *Reconciler) Step(ctx context.Context, key types.NamespacedName) (*policy.RecoveryDecision, error) {
	log := logr.FromContextOrDiscard(ctx)
	r.mu.Lock()
	if r.blocked == nil {
		r.blocked = map[string]string{}
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	r.mu.Unlock()
	sts := &appsv1.StatefulSet{}
	if err := r.Client.Get(ctx, key, sts); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	p, err := r.Policy(ctx, sts)
	if err != nil {
		return nil, err
	}
	_, inFlight := sts.Annotations[policy.RecoveryAnnotation]
	if !inFlight && (p == nil || p.Spec.Recovery.Mode == v1alpha1.RecoveryOff || p.Spec.Recovery.Mode == "") {
		// Off: nothing is written, not even a status; `stowage recover --plan` and the audit
		// still show what recovery would do.
		return nil, nil
	}
	d, err := r.decide(ctx, sts, p)
	if err != nil {
		return nil, err
	}
	r.report(ctx, sts, d)
	if err := r.writeStatus(ctx, sts, d); err != nil {
		// The status is a report: failing to write it never holds up a recovery step.
		log.Error(err, "writing the recovery status", "statefulset", key.String())
		if err := r.Client.Get(ctx, key, sts); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
	}
	if d.Action == policy.RecoveryNone || d.Action == policy.RecoveryWait {
		return &d, nil
	}
	log.Info("recovery step", "statefulset", key.String(), "action", d.Action, "ordinal", d.Ordinal, "message", d.Message)
	if err := r.execute(ctx, sts, d); err != nil {
		return &d, err
	}
	if r.AfterStep != nil {
		r.AfterStep(d.Action)
	}
	return &d, nil
}

func (r *Reconciler) decide(ctx context.Context, sts *appsv1.StatefulSet, p *v1alpha1.PlacementPolicy) (policy.RecoveryDecision, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	facts := policy.RecoveryFacts{StatefulSet: sts, MaxInFlight: r.MaxInFlight, Now: metav1.NewTime(now())}
	if p != nil {
		facts.Spec = p.Spec.Recovery
	}
	if err := r.listFacts(ctx, &facts); err != nil {
		return policy.RecoveryDecision{}, err
	}
	return policy.DecideRecovery(facts), nil
}

// Plan decides without acting or writing anything. With approve ≥ 0 it decides as if that
// ordinal had been approved (stowage.dev/recovery-approve).
func (r *Reconciler) Plan(ctx context.Context, key types.NamespacedName, approve int32) (*policy.RecoveryDecision, error) {
	sts := &appsv1.StatefulSet{}
	if err := r.Client.Get(ctx, key, sts); err != nil {
		return nil, err
	}
	p, err := r.Policy(ctx, sts)
	if err != nil {
		return nil, err
	}
	if approve >= 0 {
		metav1.SetMetaDataAnnotation(&sts.ObjectMeta, policy.RecoveryApproveAnnotation, fmt.Sprint(approve))
	}
	d, err := r.decide(ctx, sts, p)
	return &d, err
}

func (r *Reconciler) listFacts(ctx context.Context, f *policy.RecoveryFacts) error {
	ns := client.InNamespace(f.StatefulSet.Namespace)
	var pods corev1.PodList
	var claims corev1.PersistentVolumeClaimList
	var pvs corev1.PersistentVolumeList
	var nodes corev1.NodeList
	var all appsv1.StatefulSetList
	for _, l := range []struct {
		list client.ObjectList
		opts []client.ListOption
	}{{&pods, []client.ListOption{ns}}, {&claims, []client.ListOption{ns}}, {&pvs, nil}, {&nodes, nil}, {&all, nil}} {
		if err := r.Client.List(ctx, l.list, l.opts...); err != nil {
			return err
		}
	}
	f.Pods, f.Claims, f.Volumes, f.Nodes = pointers(pods.Items), pointers(claims.Items), pointers(pvs.Items), pointers(nodes.Items)
	total := 0
	for i := range all.Items {
		if _, ok := all.Items[i].Annotations[policy.RecoveryAnnotation]; ok {
			total++
			if all.Items[i].UID != f.StatefulSet.UID {
				f.InFlight++
			}
		}
	}
	if r.Metrics != nil {
		r.Metrics.inFlight.Set(float64(total))
	}
	return nil
}

// pointers points into a list's items (nil when there are none).
func pointers[T any](items []T) []*T {
	var out []*T
	for i := range items {
		out = append(out, &items[i])
	}
	return out
}

// report emits an event and counts a refusal when a replica's guard changes.
func (r *Reconciler) report(_ context.Context, sts *appsv1.StatefulSet, d policy.RecoveryDecision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, rep := range d.Replicas {
		key := fmt.Sprintf("%s/%s/%d", sts.Namespace, sts.Name, rep.Ordinal)
		seen[key] = true
		if rep.State != policy.ReplicaBlocked {
			delete(r.blocked, key)
			continue
		}
		if r.blocked[key] == string(rep.Guard) {
			continue
		}
		r.blocked[key] = string(rep.Guard)
		if r.Metrics != nil {
			r.Metrics.refused.WithLabelValues(sts.Namespace, sts.Name, string(rep.Guard)).Inc()
		}
		r.event(sts, nil, corev1.EventTypeWarning, "RecoveryBlocked",
			"replica %d (volume on node %s, %s) not recovered: %s: %s", rep.Ordinal, rep.Node, rep.Reason, rep.Guard, rep.Message)
	}
	prefix := sts.Namespace + "/" + sts.Name + "/"
	for k := range r.blocked {
		if strings.HasPrefix(k, prefix) && !seen[k] {
			delete(r.blocked, k)
		}
	}
}

// ReplicaRecovered is the state the status annotation shows after a recovery finished.
const ReplicaRecovered = "Recovered"

// StatusSummary is the JSON of the StatefulSet's stowage.dev/recovery-status annotation.
type StatusSummary struct {
	Replicas []policy.ReplicaRecovery `json:"replicas"`
}

// writeStatus keeps the StatefulSet's status annotation in step with the decision.
func (r *Reconciler) writeStatus(ctx context.Context, sts *appsv1.StatefulSet, d policy.RecoveryDecision) error {
	want := ""
	if len(d.Replicas) > 0 {
		b, err := json.Marshal(StatusSummary{Replicas: d.Replicas})
		if err != nil {
			return err
		}
		want = string(b)
	}
	if d.Action == policy.RecoveryFinish {
		return nil // written with the record's removal, in one patch
	}
	have, ok := sts.Annotations[policy.RecoveryStatusAnnotation]
	switch {
	case have == want:
		return nil
	case want == "" && !ok:
		return nil
	case want == "" && strings.Contains(have, `"state":"`+ReplicaRecovered+`"`):
		return nil // the last recovery's outcome stays until something else is to report
	case want == "":
		return r.patchAnnotations(ctx, sts, false, map[string]*string{policy.RecoveryStatusAnnotation: nil})
	}
	// The status is a report: last writer wins, no conflict with the StatefulSet controller's
	// status updates.
	return r.patchAnnotations(ctx, sts, false, map[string]*string{policy.RecoveryStatusAnnotation: &want})
}

// patchAnnotations sets (or, with nil, removes) annotations of the StatefulSet. Locked, it fails
// on a conflicting write, so that a stale view never overwrites a newer record.
func (r *Reconciler) patchAnnotations(ctx context.Context, sts *appsv1.StatefulSet, locked bool, set map[string]*string) error {
	meta := map[string]any{"annotations": set} // a nil value marshals to null, which removes it
	if locked {
		meta["resourceVersion"] = sts.ResourceVersion
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, sts, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotating StatefulSet %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	return nil
}

func (r *Reconciler) event(obj, related client.Object, typ, reason, note string, args ...any) {
	if r.Recorder != nil && obj != nil {
		r.Recorder.Eventf(obj, related, typ, reason, "Recover", note, args...)
	}
}

func (r *Reconciler) execute(ctx context.Context, sts *appsv1.StatefulSet, d policy.RecoveryDecision) error {
	switch d.Action {
	case policy.RecoveryBegin:
		rec := d.Record.String()
		if err := r.patchAnnotations(ctx, sts, true, map[string]*string{policy.RecoveryAnnotation: &rec, policy.RecoveryApproveAnnotation: nil}); err != nil {
			return err
		}
		if r.Metrics != nil {
			r.Metrics.started.WithLabelValues(sts.Namespace, sts.Name).Inc()
		}
		r.event(sts, nil, corev1.EventTypeWarning, "RecoveryStarted", "recovering replica %d: %s", d.Ordinal, d.Message)
	case policy.RecoveryRetainVolume:
		pv := d.Volume
		var from string
		for _, c := range d.Record.Claims {
			if c.Volume == pv.Name {
				from = d.Record.RecoveredFrom(sts.Namespace, c)
			}
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": pv.ResourceVersion, "annotations": map[string]string{policy.RecoveredFromAnnotation: from}},
			"spec":     map[string]any{"persistentVolumeReclaimPolicy": corev1.PersistentVolumeReclaimRetain},
		})
		if err != nil {
			return err
		}
		if err := r.Client.Patch(ctx, pv, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("retaining PersistentVolume %s: %w", pv.Name, err)
		}
		r.event(sts, pv, corev1.EventTypeNormal, "VolumeRetained", "volume %s of replica %d kept with reclaim policy Retain before its claim is released", pv.Name, d.Ordinal)
	case policy.RecoveryDeleteClaim:
		c := d.Claim
		r.event(c, sts, corev1.EventTypeWarning, "ClaimReleased", "deleting claim %s of replica %d: %s", c.Name, d.Ordinal, d.Message)
		r.event(sts, c, corev1.EventTypeWarning, "ClaimReleased", "deleting claim %s of replica %d: %s", c.Name, d.Ordinal, d.Message)
		uid, rv := c.UID, c.ResourceVersion
		if err := r.Client.Delete(ctx, c, client.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting PersistentVolumeClaim %s/%s: %w", c.Namespace, c.Name, err)
		}
	case policy.RecoveryDeletePod:
		// The StatefulSet controller creates a claim only together with a pod, and judges from
		// its cache: confirm with the API server that every recorded claim is gone first.
		for _, rc := range d.Record.Claims {
			var c corev1.PersistentVolumeClaim
			err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sts.Namespace, Name: rc.Name}, &c)
			if err == nil && c.UID == rc.UID {
				return fmt.Errorf("claim %s/%s is still on the API server; not deleting pod %s yet", sts.Namespace, rc.Name, d.Pod.Name)
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		p := d.Pod
		uid := p.UID
		if err := r.Client.Delete(ctx, p, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		r.event(sts, p, corev1.EventTypeNormal, "PodDeleted", "%s", d.Message)
	case policy.RecoveryFinish, policy.RecoveryAbort:
		set := map[string]*string{policy.RecoveryAnnotation: nil}
		if d.Action == policy.RecoveryFinish {
			b, err := json.Marshal(StatusSummary{Replicas: []policy.ReplicaRecovery{{Ordinal: d.Record.Ordinal, Pod: d.Record.Pod,
				Node: d.Record.Node, Reason: d.Record.Reason, State: ReplicaRecovered, Message: d.Message}}})
			if err != nil {
				return err
			}
			status := string(b)
			set[policy.RecoveryStatusAnnotation] = &status
		}
		if err := r.patchAnnotations(ctx, sts, true, set); err != nil {
			return err
		}
		if d.Action == policy.RecoveryFinish {
			took := r.Now().Sub(d.Record.Started.Time)
			if r.Metrics != nil {
				r.Metrics.succeeded.WithLabelValues(sts.Namespace, sts.Name).Inc()
				r.Metrics.duration.Observe(took.Seconds())
			}
			r.event(sts, nil, corev1.EventTypeNormal, "RecoverySucceeded", "%s after %s; the old volume is kept with reclaim policy Retain",
				d.Message, took.Round(time.Second))
			return nil
		}
		guard := string(d.Guard)
		if guard == "" {
			guard = "NodeBack"
		}
		if r.Metrics != nil {
			r.Metrics.refused.WithLabelValues(sts.Namespace, sts.Name, guard).Inc()
		}
		r.event(sts, nil, corev1.EventTypeWarning, "RecoveryAborted", "%s", d.Message)
	}
	return nil
}
