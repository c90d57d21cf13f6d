package audit

import (
	"fmt"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stowage-dev/stowage/policy"
)

// syntheticSnapshot builds a cluster of the given size: StatefulSets spread over 50 namespaces,
// each replica's pod and local volume on its own node, a budget per StatefulSet, and a sprinkle
// of trouble: every 50th StatefulSet has two replicas on one node, every 70th a volume on a
// node that is gone, every 30th no budget, every 10th node is in another zone.
func syntheticSnapshot(nodes, statefulSets, replicas int) *Snapshot {
	f := newFixture()
	names := make([]string, nodes)
	for i := range nodes {
		names[i] = fmt.Sprintf("node-%04d", i)
		f.node(names[i], func(n *corev1.Node) {
			n.Labels[corev1.LabelTopologyZone] = fmt.Sprintf("zone-%d", i%3)
		})
	}
	const namespaces = 50
	for i := range namespaces {
		f.snap.Namespaces = append(f.snap.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("ns-%02d", i), Labels: map[string]string{"team": fmt.Sprintf("team-%d", i%7)},
		}})
	}
	stride := max(nodes/replicas, 1)
	for i := range statefulSets {
		ns := fmt.Sprintf("ns-%02d", i%namespaces)
		name := fmt.Sprintf("sts-%05d", i)
		s := f.sts(ns, name, int32(replicas))
		for j := range replicas {
			node := names[(i+j*stride)%nodes]
			if j == 1 && i%50 == 0 {
				node = names[i%nodes] // co-located with replica 0
			}
			f.pod(s, j, node)
			vnode := node
			if j == replicas-1 && i%70 == 0 {
				vnode = "node-gone"
			}
			f.volume(s, j, vnode)
		}
		if i%30 != 0 {
			f.pdb(ns, name+"-stowage", name)
		}
	}
	return &f.snap
}

// BenchmarkAnalyze audits the scale target: 1,000 nodes, 5,000 StatefulSets of 3 replicas, so
// 15,000 pods, claims and volumes. live-MiB is the heap the report and snapshot hold afterwards,
// less the snapshot alone.
func BenchmarkAnalyze(b *testing.B) {
	snap := syntheticSnapshot(1000, 5000, 3)
	set := policySetForBench(b)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	var r *Report
	for b.Loop() {
		r = Analyze(snap, set, Options{Now: now})
	}
	b.StopTimer()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "live-MiB")
	b.ReportMetric(float64(len(r.Findings)), "findings")
	runtime.KeepAlive(r)
	runtime.KeepAlive(snap)
}

func policySetForBench(b *testing.B) *policy.Set {
	return setOf(b, defaultPolicy())
}

// TestSyntheticScale runs the scale target once, outside -short, and checks the answer: every
// co-located pair, missing-node volume and missing budget planted is found.
func TestSyntheticScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	r := Analyze(syntheticSnapshot(1000, 5000, 3), nil, Options{Now: now})
	if len(r.Problems) > 0 {
		t.Fatalf("problems: %v", r.Problems[:1])
	}
	count := map[FindingID]int{}
	for _, f := range r.Findings {
		count[f.ID]++
	}
	want := map[FindingID]int{ColocatedReplicas: 100, StrandedVolume: 72, PendingOnStrandedVolume: 0, NoPDB: 167}
	for id, n := range want {
		if count[id] != n {
			t.Errorf("%s: %d findings, want %d", id, count[id], n)
		}
	}
	if r.Summary.StatefulSets != 5000 || r.Summary.Nodes != 1000 || len(r.Nodes) != 1001 {
		t.Errorf("summary %+v, %d node rows", r.Summary, len(r.Nodes))
	}
}
