package audit

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const strimziPodSet = "core.strimzi.io/v1beta2"

// ownedPod adds a Running, Ready pod on node that the controller apiVersion/kind/owner makes,
// mounting claims.
func (f *fixture) ownedPod(ns, name, apiVersion, kind, owner, node string, claims ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: apiVersion, Kind: kind, Name: owner, UID: types.UID("uid-" + kind + "-" + owner), Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for i, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data-" + string(rune('a'+i)),
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	f.snap.Pods = append(f.snap.Pods, p)
	return p
}

// claimOn adds a claim bound to a local volume pinned (by hostname) to node.
func (f *fixture) claimOn(ns, claim, node string) {
	pvName := "pvc-" + ns + "-" + claim
	f.snap.PVCs = append(f.snap.PVCs, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: claim},
		Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("openebs-hostpath"), VolumeName: pvName},
	})
	f.snap.PVs = append(f.snap.PVs, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: "openebs-hostpath",
			ClaimRef:         &corev1.ObjectReference{Namespace: ns, Name: claim},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	})
}

func TestPodSets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(f *fixture)
		want  []string
		sets  int
	}{
		{
			name: "StrimziPodSet with two brokers on node-a → ColocatedReplicas error at the StrimziPodSet",
			build: func(f *fixture) {
				f.ownedPod("kafka", "my-cluster-broker-0", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-a")
				f.ownedPod("kafka", "my-cluster-broker-1", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-a")
				f.ownedPod("kafka", "my-cluster-broker-2", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-b")
			},
			want: []string{"error ColocatedReplicas StrimziPodSet kafka/my-cluster-broker node-a my-cluster-broker-0,my-cluster-broker-1"},
			sets: 1,
		},
		{
			name: "StrimziPodSet with one broker per node → a pod set, nothing to report",
			build: func(f *fixture) {
				f.ownedPod("kafka", "my-cluster-broker-0", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-a")
				f.ownedPod("kafka", "my-cluster-broker-1", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-b")
				f.ownedPod("kafka", "my-cluster-broker-2", strimziPodSet, "StrimziPodSet", "my-cluster-broker", "node-c")
			},
			want: []string{},
			sets: 1,
		},
		{
			name: "an unknown controller whose two pods each have a claim pinned to node-a → ColocatedReplicas and VolumesPinnedTogether",
			build: func(f *fixture) {
				f.ownedPod("db", "pg-1", "postgresql.cnpg.io/v1", "Cluster", "pg", "node-a", "pg-1")
				f.ownedPod("db", "pg-2", "postgresql.cnpg.io/v1", "Cluster", "pg", "node-a", "pg-2")
				f.claimOn("db", "pg-1", "node-a")
				f.claimOn("db", "pg-2", "node-a")
			},
			want: []string{
				"error ColocatedReplicas Cluster db/pg node-a pg-1,pg-2",
				"error VolumesPinnedTogether Cluster db/pg node-a pg-1,pg-2",
			},
			sets: 1,
		},
		{
			name: "a pod-set replica whose volume is pinned to a node that is gone → StrandedVolume and PendingOnStrandedVolume",
			build: func(f *fixture) {
				f.ownedPod("db", "pg-1", "postgresql.cnpg.io/v1", "Cluster", "pg", "node-a", "pg-1")
				p := f.ownedPod("db", "pg-2", "postgresql.cnpg.io/v1", "Cluster", "pg", "", "pg-2")
				p.Status = corev1.PodStatus{Phase: corev1.PodPending}
				f.claimOn("db", "pg-1", "node-a")
				f.claimOn("db", "pg-2", "node-gone")
			},
			want: []string{
				"error PendingOnStrandedVolume Cluster db/pg node-gone pg-2",
				"error StrandedVolume Cluster db/pg node-gone pg-2",
			},
			sets: 1,
		},
		{
			name: "an unknown controller's pods sharing one claim on one node → not replicas, not a pod set",
			build: func(f *fixture) {
				f.ownedPod("ci", "step-1", "argoproj.io/v1alpha1", "Workflow", "build", "node-a", "workspace")
				f.ownedPod("ci", "step-2", "argoproj.io/v1alpha1", "Workflow", "build", "node-a", "workspace")
			},
			want: []string{},
		},
		{
			name: "an unknown controller's pods without claims → not a pod set",
			build: func(f *fixture) {
				f.ownedPod("web", "a", "example.com/v1", "Thing", "x", "node-a")
				f.ownedPod("web", "b", "example.com/v1", "Thing", "x", "node-a")
			},
			want: []string{},
		},
		{
			name: "a ReplicaSet's or a Job's pods with claims on one node → built-in workloads, not pod sets",
			build: func(f *fixture) {
				f.ownedPod("web", "rs-a", "apps/v1", "ReplicaSet", "web", "node-a", "c1")
				f.ownedPod("web", "rs-b", "apps/v1", "ReplicaSet", "web", "node-a", "c2")
				f.ownedPod("web", "job-a", "batch/v1", "Job", "j", "node-a", "c3")
				f.ownedPod("web", "job-b", "batch/v1", "Job", "j", "node-a", "c4")
				f.ownedPod("web", "rc-a", "v1", "ReplicationController", "rc", "node-a", "c5")
				f.ownedPod("web", "rc-b", "v1", "ReplicationController", "rc", "node-a", "c6")
			},
			want: []string{},
		},
		{
			name: "two StrimziPodSets of one name in two namespaces → two sets, each judged alone",
			build: func(f *fixture) {
				f.ownedPod("a", "c-broker-0", strimziPodSet, "StrimziPodSet", "c-broker", "node-a")
				f.ownedPod("b", "c-broker-0", strimziPodSet, "StrimziPodSet", "c-broker", "node-a")
			},
			want: []string{},
			sets: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			f.nodes("node-a", "node-b", "node-c")
			tc.build(f)
			r := f.analyze()
			got := []string{}
			for _, fi := range r.Findings {
				names := fi.Pods
				if fi.ID == VolumesPinnedTogether {
					names = fi.Claims
				}
				got = append(got, string(fi.Severity)+" "+string(fi.ID)+" "+fi.Subject()+" "+fi.Node+" "+strings.Join(names, ","))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if len(r.PodSets) != tc.sets || r.Summary.PodSets != tc.sets {
				t.Errorf("%d pod sets (summary %d), want %d: %+v", len(r.PodSets), r.Summary.PodSets, tc.sets, r.PodSets)
			}
		})
	}
}

func TestPodSetRow(t *testing.T) {
	f := newFixture()
	f.nodes("node-a", "node-b")
	f.ownedPod("kafka", "c-broker-1", strimziPodSet, "StrimziPodSet", "c-broker", "node-a", "data-c-broker-1")
	f.ownedPod("kafka", "c-broker-0", strimziPodSet, "StrimziPodSet", "c-broker", "node-a", "data-c-broker-0")
	f.claimOn("kafka", "data-c-broker-0", "node-a")
	r := f.analyze()
	if len(r.PodSets) != 1 {
		t.Fatalf("pod sets: %+v", r.PodSets)
	}
	want := PodSetRow{
		Namespace: "kafka", APIVersion: strimziPodSet, Kind: "StrimziPodSet", Name: "c-broker", UID: "uid-StrimziPodSet-c-broker",
		ReadyReplicas: 2, Nodes: []string{"node-a"}, ColocatedReplicas: 2, PinnedReplicas: 1,
		Findings: 1, WorstSeverity: SeverityError,
		Replicas: []Replica{
			{Ordinal: 0, Pod: "c-broker-0", Phase: "Running", Ready: true, Healthy: true, Node: "node-a", NodeState: NodeReady, Colocated: true,
				Volumes: []Volume{{Template: "data-a", Claim: "data-c-broker-0", Class: "openebs-hostpath", Volume: "pvc-kafka-data-c-broker-0",
					Node: "node-a", NodeState: NodeReady}}},
			{Ordinal: 1, Pod: "c-broker-1", Phase: "Running", Ready: true, Healthy: true, Node: "node-a", NodeState: NodeReady, Colocated: true,
				Volumes: []Volume{{Template: "data-a", Claim: "data-c-broker-1", Missing: true}}},
		},
	}
	if diff := cmp.Diff(want, r.PodSets[0]); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	fs := r.Findings
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "Stowage does not change the pods a StrimziPodSet makes") || fs[0].StatefulSet != "" {
		t.Errorf("findings: %+v", fs)
	}
	if prs := r.PolicyReports(); len(prs) != 1 || len(prs[0].Results) != 1 || prs[0].Results[0].Resources[0].Kind != "StrimziPodSet" {
		t.Errorf("the PolicyReport result is about the StrimziPodSet: %+v", prs)
	}
}
