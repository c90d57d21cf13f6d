package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stowage-dev/stowage/policy"
)

// TestFindings runs one scenario per finding the audit reports, each against Stowage's default
// policy, and compares every finding (as "severity ID namespace/statefulset node").
func TestFindings(t *testing.T) {
	abc := func(f *fixture) { f.nodes("node-a", "node-b", "node-c") }
	for _, tc := range []struct {
		name  string
		build func(f *fixture)
		want  []string
	}{
		{
			name:  "3 replicas on 3 nodes next to their volumes, with a budget → nothing to report",
			build: func(f *fixture) { abc(f); f.healthy("db", "pg", "node-a", "node-b", "node-c") },
			want:  []string{},
		},
		{
			name: "3 replicas, two pods on node-a → ColocatedReplicas error, and node-a's loss breaks quorum",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3, noVolumes)
				f.pod(s, 0, "node-a")
				f.pod(s, 1, "node-a")
				f.pod(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{
				"error ColocatedReplicas db/pg node-a",
				"error NodeLossBreaksQuorum db/pg node-a",
			},
		},
		{
			name: "3 replicas, volumes of 0 and 1 pinned to node-a, pod 1 Pending → VolumesPinnedTogether error",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.pod(s, 1, "")
				f.volume(s, 1, "node-a")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{
				"error NodeLossBreaksQuorum db/pg node-a",
				"error NodeLossBreaksQuorum db/pg node-c",
				"error VolumesPinnedTogether db/pg node-a",
			},
		},
		{
			name: "pod 0 runs on node-d while its volume is pinned to node-a → PodAwayFromVolume error",
			build: func(f *fixture) {
				abc(f)
				f.node("node-d")
				s := f.sts("db", "pg", 3)
				f.pod(s, 0, "node-d")
				f.volume(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{"error PodAwayFromVolume db/pg node-d"},
		},
		{
			name: "volume pinned to a node that no longer exists, pod Pending → StrandedVolume and PendingOnStrandedVolume errors",
			build: func(f *fixture) {
				f.nodes("node-b", "node-c", "node-d")
				s := f.sts("db", "pg", 3)
				f.pod(s, 0, "")
				f.volume(s, 0, "node-gone")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{
				"error NodeLossBreaksQuorum db/pg node-b",
				"error NodeLossBreaksQuorum db/pg node-c",
				"error PendingOnStrandedVolume db/pg node-gone",
				"error StrandedVolume db/pg node-gone",
			},
		},
		{
			name: "volume on a node NotReady for 10m (threshold 5m) → StrandedVolume error",
			build: func(f *fixture) {
				f.node("node-a", notReadyFor(10*time.Minute))
				f.nodes("node-b", "node-c")
				f.healthy("db", "pg", "node-a", "node-b", "node-c")
			},
			want: []string{
				"error NodeLossBreaksQuorum db/pg node-b",
				"error NodeLossBreaksQuorum db/pg node-c",
				"error StrandedVolume db/pg node-a",
			},
		},
		{
			name: "volume on a node NotReady for 2m (threshold 5m) → not stranded yet, the replica just is not healthy",
			build: func(f *fixture) {
				f.node("node-a", notReadyFor(2*time.Minute))
				f.nodes("node-b", "node-c")
				f.healthy("db", "pg", "node-a", "node-b", "node-c")
			},
			want: []string{
				"error NodeLossBreaksQuorum db/pg node-b",
				"error NodeLossBreaksQuorum db/pg node-c",
			},
		},
		{
			name: "volume on a cordoned node, pod still running there → StrandedVolume warning",
			build: func(f *fixture) {
				f.node("node-a", cordoned)
				f.nodes("node-b", "node-c", "node-d")
				f.healthy("db", "pg", "node-a", "node-b", "node-c")
			},
			want: []string{"warning StrandedVolume db/pg node-a"},
		},
		{
			name: "3 replicas on 3 nodes, one cordoned → cordoned node is not eligible: InsufficientEligibleNodes error too",
			build: func(f *fixture) {
				f.node("node-a", cordoned)
				f.nodes("node-b", "node-c")
				f.healthy("db", "pg", "node-a", "node-b", "node-c")
			},
			want: []string{"error InsufficientEligibleNodes db/pg", "warning StrandedVolume db/pg node-a"},
		},
		{
			name: "kafka and zookeeper of instance events share node-a → InstanceSharesNode warning for each",
			build: func(f *fixture) {
				abc(f)
				k := f.sts("msg", "kafka", 1, instance("events"))
				z := f.sts("msg", "zookeeper", 1, instance("events"))
				f.replica(k, 0, "node-a")
				f.replica(z, 0, "node-a")
			},
			want: []string{
				"warning InstanceSharesNode msg/kafka node-a",
				"warning InstanceSharesNode msg/zookeeper node-a",
			},
		},
		{
			name: "two instances on one node (different instance labels) → no InstanceSharesNode",
			build: func(f *fixture) {
				abc(f)
				k := f.sts("msg", "kafka", 1, instance("events"))
				z := f.sts("msg", "zookeeper", 1, instance("audit-log"))
				f.replica(k, 0, "node-a")
				f.replica(z, 0, "node-a")
			},
			want: []string{},
		},
		{
			name: "3 replicas without a budget → NoPDB warning",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
			},
			want: []string{"warning NoPDB db/pg"},
		},
		{
			name:  "1 replica without a budget → no NoPDB",
			build: func(f *fixture) { abc(f); f.healthy("db", "pg", "node-a") },
			want:  []string{},
		},
		{
			name: "two budgets select the same pods → the engine's DisruptionBudgetConflict warning",
			build: func(f *fixture) {
				abc(f)
				f.healthy("db", "pg", "node-a", "node-b", "node-c")
				f.pdb("db", "pg-chart", "pg")
			},
			want: []string{"warning DisruptionBudgetConflict db/pg"},
		},
		{
			name: "budget with maxUnavailable 0 → the engine's DisruptionBudgetBlocksEviction warning",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg", maxUnavail(intstr.FromInt32(0)))
			},
			want: []string{"warning DisruptionBudgetBlocksEviction db/pg"},
		},
		{
			name: "budget with minAvailable 3 over 3 replicas → the engine's DisruptionBudgetBlocksEviction warning",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg", minAvail(intstr.FromInt32(3)))
			},
			want: []string{"warning DisruptionBudgetBlocksEviction db/pg"},
		},
		{
			name:  "5 replicas, maxUnavailable 3 (quorum of 3 survives 2) → the engine's DisruptionBudgetTooLoose warning",
			build: func(f *fixture) { fiveWith(f, maxUnavail(intstr.FromInt32(3))) },
			want:  []string{"warning DisruptionBudgetTooLoose db/etcd"},
		},
		{
			name:  "5 replicas, maxUnavailable 2 → within quorum, but more than the policy's maxUnavailable 1: the engine's warning",
			build: func(f *fixture) { fiveWith(f, maxUnavail(intstr.FromInt32(2))) },
			want:  []string{"warning DisruptionBudgetTooLoose db/etcd"},
		},
		{
			name:  "5 replicas, minAvailable 2 (3 may go) → the engine's DisruptionBudgetTooLoose warning",
			build: func(f *fixture) { fiveWith(f, minAvail(intstr.FromInt32(2))) },
			want:  []string{"warning DisruptionBudgetTooLoose db/etcd"},
		},
		{
			name:  "5 replicas, maxUnavailable 50% (rounds up to 3) → the engine's DisruptionBudgetTooLoose warning",
			build: func(f *fixture) { fiveWith(f, maxUnavail(intstr.FromString("50%"))) },
			want:  []string{"warning DisruptionBudgetTooLoose db/etcd"},
		},
		{
			name:  "2 replicas, maxUnavailable 1 → no DisruptionBudgetTooLoose (no budget keeps a quorum of 2 without blocking drains)",
			build: func(f *fixture) { abc(f); f.healthy("db", "pg", "node-a", "node-b") },
			want:  []string{},
		},
		{
			name: "3 replicas under hard anti-affinity, 2 eligible nodes → InsufficientEligibleNodes error",
			build: func(f *fixture) {
				f.nodes("node-a", "node-b")
				f.node("node-c", tainted("dedicated"))
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.pod(s, 2, "")
				f.pdb("db", "pg", "pg")
			},
			want: []string{
				"error InsufficientEligibleNodes db/pg",
				"error NodeLossBreaksQuorum db/pg node-a",
				"error NodeLossBreaksQuorum db/pg node-b",
			},
		},
		{
			name: "3 replicas, two pods not ready → QuorumLost error",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.pod(s, 1, "node-b", notReadyPod)
				f.volume(s, 1, "node-b")
				f.pod(s, 2, "node-c", notReadyPod)
				f.volume(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{"error QuorumLost db/pg"},
		},
		{
			name: "3 replicas, one pod not ready → NodeLossBreaksQuorum error for each node holding a healthy replica",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.pod(s, 2, "node-c", notReadyPod)
				f.volume(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{
				"error NodeLossBreaksQuorum db/pg node-a",
				"error NodeLossBreaksQuorum db/pg node-b",
			},
		},
		{
			name: "pods of another StatefulSet with the same labels are not counted → nothing to report",
			build: func(f *fixture) {
				abc(f)
				s := f.healthy("db", "pg", "node-a", "node-b", "node-c")
				impostor := f.pod(s, 0, "node-b")
				impostor.Name = "pg-9"
				impostor.OwnerReferences[0].UID = "another-uid"
			},
			want: []string{},
		},
		{
			name: "soft anti-affinity → the engine's AntiAffinityMissing error, with its field path",
			build: func(f *fixture) {
				abc(f)
				s := f.sts("db", "pg", 3, softAntiAffinity)
				f.replica(s, 0, "node-a")
				f.replica(s, 1, "node-b")
				f.replica(s, 2, "node-c")
				f.pdb("db", "pg", "pg")
			},
			want: []string{"error AntiAffinityMissing db/pg"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.build(f)
			r := f.analyze()
			if diff := cmp.Diff(tc.want, brief(r.Findings, nil)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nall: %+v", diff, r.Findings)
			}
			if len(r.Problems) > 0 {
				t.Errorf("problems: %+v", r.Problems)
			}
		})
	}
}

func noVolumes(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates = nil }

// fiveWith adds a healthy 5-replica etcd with one budget.
func fiveWith(f *fixture, mod func(*policyv1.PodDisruptionBudget)) {
	f.nodes("node-a", "node-b", "node-c", "node-d", "node-e")
	s := f.sts("db", "etcd", 5)
	for i, n := range []string{"node-a", "node-b", "node-c", "node-d", "node-e"} {
		f.replica(s, i, n)
	}
	f.pdb("db", "etcd", "etcd", mod)
}

// TestBudgetStatus checks the budget column: None and NotNeeded from the budgets that exist, the
// rest from the engine's findings on them, so the row and the findings always agree.
func TestBudgetStatus(t *testing.T) {
	abc := func(f *fixture) { f.nodes("node-a", "node-b", "node-c") }
	three := func(f *fixture, mods ...func(*policyv1.PodDisruptionBudget)) {
		abc(f)
		s := f.sts("db", "pg", 3)
		f.replica(s, 0, "node-a")
		f.replica(s, 1, "node-b")
		f.replica(s, 2, "node-c")
		for _, m := range mods {
			f.pdb("db", "pg", "pg", m)
		}
	}
	keep := func(*policyv1.PodDisruptionBudget) {}
	for _, tc := range []struct {
		name     string
		build    func(f *fixture)
		policies bool
		want     PDBStatus
	}{
		{"3 replicas, one budget with maxUnavailable 1 → OK", func(f *fixture) { three(f, keep) }, true, PDBOK},
		{"3 replicas, no budget → None", func(f *fixture) { three(f) }, true, PDBNone},
		{"1 replica, no budget → NotNeeded", func(f *fixture) { abc(f); f.healthy("db", "pg", "node-a") }, true, PDBNotNeeded},
		{"two budgets → Multiple", func(f *fixture) {
			abc(f)
			f.healthy("db", "pg", "node-a", "node-b", "node-c")
			f.pdb("db", "pg-chart", "pg")
		}, true, PDBMultiple},
		{"maxUnavailable 0 → Blocking", func(f *fixture) { three(f, maxUnavail(intstr.FromInt32(0))) }, true, PDBBlocking},
		{"5 replicas, maxUnavailable 3 → ExceedsQuorum", func(f *fixture) { fiveWith(f, maxUnavail(intstr.FromInt32(3))) }, true, PDBLooserThanQuorum},
		{"a per-replica budget on statefulset.kubernetes.io/pod-name beside the chart's → Multiple, as the engine counts it", func(f *fixture) {
			three(f, keep)
			f.pdb("db", "pg-0", "pg", func(b *policyv1.PodDisruptionBudget) {
				b.Spec.Selector.MatchLabels[appsv1.StatefulSetPodNameLabel] = "pg-0"
			})
		}, true, PDBMultiple},
		{"two budgets, but no policy judges them → OK, as there is no finding", func(f *fixture) {
			abc(f)
			f.healthy("db", "pg", "node-a", "node-b", "node-c")
			f.pdb("db", "pg-chart", "pg")
		}, false, PDBOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.build(f)
			set := emptySet()
			if tc.policies {
				set = nil
			}
			r := Analyze(&f.snap, set, Options{Now: now})
			if got := r.StatefulSets[0].PDB.Status; got != tc.want {
				t.Errorf("pdb.status = %s, want %s; findings %v", got, tc.want, brief(r.Findings, nil))
			}
		})
	}
}

// TestFindingDetails checks the parts of findings that the brief form leaves out: field paths,
// the objects named, and the engine's violations as they are.
func TestFindingDetails(t *testing.T) {
	t.Run("two budgets → the engine's DisruptionBudgetConflict, the one definition, names both", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b", "node-c")
		f.healthy("db", "pg", "node-a", "node-b", "node-c")
		f.pdb("db", "pg-chart", "pg")
		r := f.analyze()
		want := []Finding{{
			ID: "DisruptionBudgetConflict", Severity: SeverityWarning, Source: SourcePolicy, Namespace: "db", StatefulSet: "pg",
			Field: "spec.selector", Policy: "default", Rule: "DisruptionBudgetConflict", PDBs: []string{"pg-chart", "pg-stowage"},
		}}
		if diff := cmp.Diff(want, r.Findings, ignoreMessage); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := r.StatefulSets[0].Violations; got != 1 {
			t.Errorf("violations = %d, want 1", got)
		}
	})
	t.Run("hard anti-affinity past the eligible nodes → the engine's InsufficientEligibleNodes at spec.replicas, the only definition", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b")
		s := f.sts("db", "pg", 3)
		f.replica(s, 0, "node-a")
		f.replica(s, 1, "node-b")
		f.pdb("db", "pg", "pg")
		r := f.analyze()
		got := r.FindingsFor("db", "pg")
		if len(got) == 0 || got[0].ID != InsufficientEligibleNodes || got[0].Field != "spec.replicas" ||
			got[0].Rule != "InsufficientEligibleNodes" || got[0].Source != SourcePolicy {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("a DoNotSchedule spread on a label some nodes lack → fewer eligible nodes than for the same spec without it", func(t *testing.T) {
		f := newFixture()
		for _, n := range []string{"node-a", "node-b"} {
			f.node(n, func(n *corev1.Node) { n.Labels["topology.kubernetes.io/zone"] = "z-" + n.Name })
		}
		f.node("node-c")
		plain := f.healthy("db", "plain", "node-a", "node-b")
		spread := f.sts("db", "spread", 2, func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: s.Spec.Selector,
			}}
		})
		f.replica(spread, 0, "node-a")
		f.replica(spread, 1, "node-b")
		got := map[string]int{}
		for _, row := range f.analyze().StatefulSets {
			got[row.Name] = row.EligibleNodes
		}
		if got[plain.Name] != 3 || got[spread.Name] != 2 {
			t.Errorf("eligible nodes = %v, want plain 3 (every node), spread 2 (the zoned nodes)", got)
		}
	})
	t.Run("soft anti-affinity → engine violations keep their rule ID, field path and policy", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b", "node-c")
		s := f.sts("db", "pg", 3, softAntiAffinity)
		f.replica(s, 0, "node-a")
		f.replica(s, 1, "node-b")
		f.replica(s, 2, "node-c")
		f.pdb("db", "pg", "pg")
		r := f.analyze()
		want := []Finding{{
			ID: "AntiAffinityMissing", Severity: SeverityError, Source: SourcePolicy, Namespace: "db", StatefulSet: "pg",
			Field:  "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
			Policy: "default", Rule: "AntiAffinityMissing",
		}}
		if diff := cmp.Diff(want, r.Findings, ignoreMessage); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("volume pinned to a missing node → the finding names the claim and the pod", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-b", "node-c")
		s := f.sts("db", "pg", 3)
		f.pod(s, 0, "")
		f.volume(s, 0, "node-gone")
		f.replica(s, 1, "node-b")
		f.replica(s, 2, "node-c")
		f.pdb("db", "pg", "pg")
		r := f.analyze()
		for _, fd := range r.Findings {
			if fd.ID == StrandedVolume {
				want := Finding{ID: StrandedVolume, Severity: SeverityError, Source: SourceAudit, Namespace: "db", StatefulSet: "pg",
					Node: "node-gone", Claims: []string{"data-pg-0"}, Pods: []string{"pg-0"}}
				if diff := cmp.Diff(want, fd, ignoreMessage); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
		}
		t.Errorf("no StrandedVolume in %+v", r.Findings)
	})
}

var ignoreMessage = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Message" }, cmp.Ignore())

// TestPolicySelection checks that the audit applies the policy the namespace's labels select.
func TestPolicySelection(t *testing.T) {
	t.Run("empty policy set → NoPolicy info and no violations", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b", "node-c")
		s := f.sts("db", "pg", 3, softAntiAffinity)
		f.replica(s, 0, "node-a")
		f.replica(s, 1, "node-b")
		f.replica(s, 2, "node-c")
		f.pdb("db", "pg", "pg")
		r := Analyze(&f.snap, emptySet(), Options{Now: now})
		if diff := cmp.Diff([]string{"info NoPolicy db/pg"}, brief(r.Findings, nil)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if r.StatefulSets[0].Policy != "" {
			t.Errorf("policy = %q", r.StatefulSets[0].Policy)
		}
	})
	t.Run("namespace label selects a Warn policy → the engine's error becomes a warning", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b", "node-c")
		s := f.sts("db", "pg", 3, softAntiAffinity)
		f.replica(s, 0, "node-a")
		f.replica(s, 1, "node-b")
		f.replica(s, 2, "node-c")
		f.pdb("db", "pg", "pg")
		f.snap.Namespaces = append(f.snap.Namespaces, namespace("db", map[string]string{"tier": "lenient"}))
		set := setOf(t, defaultPolicy(), warnPolicyFor("lenient"))
		r := Analyze(&f.snap, set, Options{Now: now})
		if diff := cmp.Diff([]string{"warning AntiAffinityMissing db/pg"}, brief(r.Findings, nil)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := r.StatefulSets[0].Policy; got != "lenient" {
			t.Errorf("policy = %q, want lenient", got)
		}
	})
	t.Run("opt-out where the policy allows it → PolicyExempt info, placement still checked", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b", "node-c")
		s := f.sts("lab", "pg", 3, softAntiAffinity, func(s *appsv1.StatefulSet) {
			s.Annotations = map[string]string{"stowage.dev/opt-out": "true"}
		})
		f.pod(s, 0, "node-a")
		f.pod(s, 1, "node-a")
		f.pod(s, 2, "node-b")
		p := defaultPolicy()
		p.Spec.OptOut.Namespaces = []string{"lab"}
		r := Analyze(&f.snap, setOf(t, p), Options{Now: now})
		want := []string{
			"error ColocatedReplicas lab/pg node-a",
			"error NodeLossBreaksQuorum lab/pg node-a",
			"warning NoPDB lab/pg",
			"info PolicyExempt lab/pg",
		}
		if diff := cmp.Diff(want, brief(r.Findings, nil)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if !r.StatefulSets[0].Exempt {
			t.Errorf("not marked exempt")
		}
	})
}

// TestVolumeResolution checks how claims, volumes and nodes are tied together.
func TestVolumeResolution(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(f *fixture, s *appsv1.StatefulSet)
		want  Volume
	}{
		{
			name:  "claim bound by spec.volumeName, volume pinned by hostname → node and class",
			build: func(f *fixture, s *appsv1.StatefulSet) { f.volume(s, 0, "node-a") },
			want:  Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0", Node: "node-a", NodeState: NodeReady},
		},
		{
			name: "node whose hostname label differs from its name → resolved to the node's name",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				f.node("ip-10-0-0-7.ec2.internal", func(n *corev1.Node) { n.Labels[corev1.LabelHostname] = "ip-10-0-0-7" })
				f.volume(s, 0, "ip-10-0-0-7")
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0", Node: "ip-10-0-0-7.ec2.internal", NodeState: NodeReady},
		},
		{
			name: "volume pinned with matchFields metadata.name → that node",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				pv := f.volume(s, 0, "x")
				pv.Spec.NodeAffinity.Required.NodeSelectorTerms = []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
					Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-b"},
				}}}}
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0", Node: "node-b", NodeState: NodeReady},
		},
		{
			name: "claim without spec.volumeName, volume's claimRef names it → found by claimRef",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				f.volume(s, 0, "node-a")
				f.snap.PVCs[len(f.snap.PVCs)-1].Spec.VolumeName = ""
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0", Node: "node-a", NodeState: NodeReady},
		},
		{
			name: "volume whose claimRef names another claim → not this replica's",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				pv := f.volume(s, 0, "node-a")
				pv.Spec.ClaimRef.Name = "other"
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath"},
		},
		{
			name: "volume with two hostnames → not pinned to one node",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				pv := f.volume(s, 0, "node-a")
				pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values = []string{"node-a", "node-b"}
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0"},
		},
		{
			name: "claim naming no class → the volume's class",
			build: func(f *fixture, s *appsv1.StatefulSet) {
				f.volume(s, 0, "node-a")
				f.snap.PVCs[len(f.snap.PVCs)-1].Spec.StorageClassName = nil
			},
			want: Volume{Template: "data", Claim: "data-pg-0", Class: "openebs-hostpath", Volume: "pvc-db-data-pg-0", Node: "node-a", NodeState: NodeReady},
		},
		{
			name:  "no claim yet → missing",
			build: func(f *fixture, s *appsv1.StatefulSet) {},
			want:  Volume{Template: "data", Claim: "data-pg-0", Missing: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			f.nodes("node-a", "node-b")
			s := f.sts("db", "pg", 1)
			tc.build(f, s)
			r := f.analyze()
			got := r.StatefulSets[0].Replicas[0].Volumes
			if diff := cmp.Diff([]Volume{tc.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplicas checks ordinals, ownership and health.
func TestReplicas(t *testing.T) {
	t.Run("spec.ordinals.start 1 with 2 replicas → ordinals 1 and 2, claims named after them", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b")
		s := f.sts("db", "pg", 2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1} })
		f.replica(s, 1, "node-a")
		f.replica(s, 2, "node-b")
		f.pdb("db", "pg", "pg")
		r := f.analyze()
		row := r.StatefulSets[0]
		if len(row.Replicas) != 2 || row.Replicas[0].Ordinal != 1 || row.Replicas[1].Volumes[0].Claim != "data-pg-2" || row.HealthyReplicas != 2 {
			t.Errorf("replicas: %+v", row.Replicas)
		}
	})
	t.Run("pod of an ordinal past spec.replicas (scale-down in progress) → listed, not desired", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a", "node-b")
		s := f.healthy("db", "pg", "node-a", "node-b")
		f.pod(s, 2, "node-a")
		r := f.analyze()
		row := r.StatefulSets[0]
		if len(row.Replicas) != 3 || row.VolumeReplicas != 2 || row.ColocatedReplicas != 2 {
			t.Errorf("row: %+v", row)
		}
	})
	t.Run("pod bound to a node that is gone → replica not healthy, node listed as Missing", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a")
		s := f.sts("db", "pg", 1, noVolumes)
		f.pod(s, 0, "node-x")
		r := f.analyze()
		if got := r.StatefulSets[0].Replicas[0]; got.Healthy || got.NodeState != NodeMissing {
			t.Errorf("replica: %+v", got)
		}
		if diff := cmp.Diff([]string{"node-a", "node-x"}, nodeNames(r)); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})
	t.Run("unset spec.replicas → one desired replica", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a")
		s := f.sts("db", "pg", 1, func(s *appsv1.StatefulSet) { s.Spec.Replicas = nil })
		f.replica(s, 0, "node-a")
		r := f.analyze()
		if got := r.StatefulSets[0]; got.DesiredReplicas != 1 || got.Quorum != 1 {
			t.Errorf("row: %+v", got)
		}
	})
	t.Run("0 replicas → no quorum, no findings", func(t *testing.T) {
		f := newFixture()
		f.nodes("node-a")
		f.sts("db", "pg", 0)
		r := f.analyze()
		if got := brief(r.Findings, nil); len(got) != 0 {
			t.Errorf("findings: %v", got)
		}
	})
}

func nodeNames(r *Report) []string {
	var out []string
	for _, n := range r.Nodes {
		out = append(out, n.Node)
	}
	return out
}

// TestNodeImpact checks the per-node rows: which StatefulSets lose a replica and which lose
// quorum.
func TestNodeImpact(t *testing.T) {
	f := newFixture()
	f.nodes("node-a", "node-b", "node-c")
	f.healthy("db", "pg", "node-a", "node-b", "node-c")
	s := f.sts("db", "redis", 3, noVolumes)
	f.pod(s, 0, "node-a")
	f.pod(s, 1, "node-a")
	f.pod(s, 2, "node-b")
	f.pdb("db", "redis", "redis")
	single := f.sts("tools", "cache", 1)
	f.replica(single, 0, "node-c")
	r := f.analyze()
	want := []NodeImpact{
		{Node: "node-a", Hostname: "node-a", State: NodeReady, Pods: 3, Volumes: 1,
			LoseReplica: []Ref{{"db", "pg"}, {"db", "redis"}}, LoseQuorum: []Ref{{"db", "redis"}}},
		{Node: "node-b", Hostname: "node-b", State: NodeReady, Pods: 2, Volumes: 1,
			LoseReplica: []Ref{{"db", "pg"}, {"db", "redis"}}, LoseQuorum: []Ref{}},
		{Node: "node-c", Hostname: "node-c", State: NodeReady, Pods: 2, Volumes: 2,
			LoseReplica: []Ref{{"db", "pg"}, {"tools", "cache"}}, LoseQuorum: []Ref{{"tools", "cache"}}},
	}
	if diff := cmp.Diff(want, r.Nodes); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantGauges := []Gauges{
		{Namespace: "db", StatefulSet: "pg", Replicas: 3},
		{Namespace: "db", StatefulSet: "redis", Replicas: 3, ColocatedReplicas: 2, LosesQuorumOnNodeFailure: 1},
		{Namespace: "tools", StatefulSet: "cache", Replicas: 1, LosesQuorumOnNodeFailure: 1},
	}
	if diff := cmp.Diff(wantGauges, r.Gauges()); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}
}

// TestDeterministic checks that the order of the listed objects does not change the report.
func TestDeterministic(t *testing.T) {
	build := func(reverse bool) *Report {
		f := demoFixture()
		if reverse {
			rev(f.snap.StatefulSets)
			rev(f.snap.Pods)
			rev(f.snap.PVCs)
			rev(f.snap.PVs)
			rev(f.snap.Nodes)
			rev(f.snap.PDBs)
			rev(f.snap.CustomResources)
			rev(f.snap.Skipped)
		}
		return f.analyze()
	}
	if diff := cmp.Diff(build(false), build(true)); diff != "" {
		t.Errorf("report depends on input order (-forward +reversed):\n%s", diff)
	}
}

func rev[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// TestAnalyzeDoesNotModify checks that the snapshot is read-only.
func TestAnalyzeDoesNotModify(t *testing.T) {
	f := demoFixture()
	before := deepCopySnapshot(&f.snap)
	f.analyze()
	if diff := cmp.Diff(before, deepCopySnapshot(&f.snap)); diff != "" {
		t.Errorf("snapshot changed (-before +after):\n%s", diff)
	}
}

func TestExitCode(t *testing.T) {
	r := func(problems int, sevs ...Severity) *Report {
		rep := &Report{}
		for range problems {
			rep.Problems = append(rep.Problems, Problem{})
		}
		for _, s := range sevs {
			rep.Findings = append(rep.Findings, Finding{Severity: s})
		}
		return rep
	}
	for _, tc := range []struct {
		name   string
		report *Report
		failOn Severity
		want   int
	}{
		{"no findings → 0", r(0), SeverityError, 0},
		{"a warning, --fail-on error → 0", r(0, SeverityWarning), SeverityError, 0},
		{"a warning, --fail-on warning → 1", r(0, SeverityWarning), SeverityWarning, 1},
		{"an error, --fail-on warning → 1", r(0, SeverityError), SeverityWarning, 1},
		{"info only, --fail-on info → 1", r(0, SeverityInfo), SeverityInfo, 1},
		{"an error, --fail-on none → 0", r(0, SeverityError), "", 0},
		{"an object not analysed, no findings → 2", r(1), SeverityError, 2},
		{"an object not analysed and an error → 2", r(1, SeverityError), SeverityError, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.report.ExitCode(tc.failOn); got != tc.want {
				t.Errorf("ExitCode(%q) = %d, want %d", tc.failOn, got, tc.want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"error": SeverityError, "Warning": SeverityWarning, "warn": SeverityWarning, "info": SeverityInfo, "none": "", "": ""} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Errorf("ParseSeverity(fatal) gave no error")
	}
}

func TestDefaultStorageClass(t *testing.T) {
	older := now.Add(-time.Hour)
	f := newFixture()
	f.snap.StorageClasses[0].CreationTimestamp.Time = older
	newer := f.snap.StorageClasses[0].DeepCopy()
	newer.Name, newer.CreationTimestamp.Time = "fast", now
	notDefault := newer.DeepCopy()
	notDefault.Name, notDefault.Annotations = "z-newest", nil
	notDefault.CreationTimestamp.Time = now.Add(time.Hour)
	f.snap.StorageClasses = append(f.snap.StorageClasses, newer, notDefault)
	if got := policy.DefaultStorageClass(f.snap.StorageClasses); got != "fast" {
		t.Errorf("default class = %q, want the newest default, fast", got)
	}
	if got := policy.DefaultStorageClass(nil); got != "" {
		t.Errorf("no classes: %q", got)
	}
}

func TestQuorum(t *testing.T) {
	for n, want := range map[int32]int32{0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 4} {
		if got := quorum(n); got != want {
			t.Errorf("quorum(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestOrdinalOf(t *testing.T) {
	for _, tc := range []struct {
		pod  string
		want int32
		ok   bool
	}{
		{"pg-0", 0, true}, {"pg-12", 12, true}, {"pg-01", 0, false}, {"pg-", 0, false},
		{"pg-x", 0, false}, {"pgx-1", 0, false}, {"pg-a-1", 0, false},
	} {
		if got, ok := ordinalOf(tc.pod, "pg"); got != tc.want || ok != tc.ok {
			t.Errorf("ordinalOf(%q) = %d, %v; want %d, %v", tc.pod, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParallelismDoesNotChangeTheReport checks that evaluating in turn or in parallel agree.
func TestParallelismDoesNotChangeTheReport(t *testing.T) {
	snap := syntheticSnapshot(40, 200, 3)
	one := Analyze(snap, nil, Options{Now: now, Parallelism: 1})
	many := Analyze(snap, nil, Options{Now: now, Parallelism: 8})
	if diff := cmp.Diff(one, many); diff != "" {
		t.Errorf("(-in turn +parallel):\n%s", diff)
	}
}
