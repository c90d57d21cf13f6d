package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
)

// runCLI runs the stowage command line in-process and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	code := 0
	if ee, ok := err.(exitError); ok {
		code = ee.code
	} else if err != nil {
		t.Fatalf("stowage %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

type objects struct {
	statefulSets []*appsv1.StatefulSet
	budgets      []*policyv1.PodDisruptionBudget
}

func parse(t *testing.T, source string, data []byte) objects {
	t.Helper()
	var o objects
	errs := stream.Read(source, data, func(d *stream.Document) error {
		switch d.Kind {
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			if _, err := stream.Decode(d, s); err != nil {
				t.Fatal(err)
			}
			o.statefulSets = append(o.statefulSets, s)
		case "PodDisruptionBudget":
			b := &policyv1.PodDisruptionBudget{}
			if _, err := stream.Decode(d, b); err != nil {
				t.Fatal(err)
			}
			o.budgets = append(o.budgets, b)
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("%s: %v", source, errs)
	}
	return o
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && sel != nil && s.Matches(labels.Set(set))
}

// TestCheckCorpus runs `stowage check --fix` over every corpus file and checks, with logic of
// its own rather than the engine's, that every StatefulSet comes out right.
func TestCheckCorpus(t *testing.T) {
	total := 0
	for _, file := range testcorpus.Files(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			code, fixed, report := runCLI(t, "", "check", "--fix", file)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, report)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			before, after := parse(t, file, data), parse(t, "fixed", []byte(fixed))
			if len(before.statefulSets) != len(after.statefulSets) {
				t.Fatalf("%d StatefulSets in, %d out", len(before.statefulSets), len(after.statefulSets))
			}
			for i, in := range before.statefulSets {
				total++
				out := after.statefulSets[i]
				// The labels of a replica: the template's, and the pod name the controller adds.
				tmpl := map[string]string{appsv1.StatefulSetPodNameLabel: out.Name + "-0"}
				for k, v := range out.Spec.Template.Labels {
					tmpl[k] = v
				}
				hard := false
				if a := out.Spec.Template.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
					for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
						if term.TopologyKey == corev1.LabelHostname && selects(term.LabelSelector, tmpl) {
							hard = true
						}
					}
				}
				if !hard {
					t.Errorf("%s: no required anti-affinity on kubernetes.io/hostname selecting its own pods", in.Name)
				}
				for j, vct := range in.Spec.VolumeClaimTemplates {
					got := out.Spec.VolumeClaimTemplates[j].Spec.StorageClassName
					if vct.Spec.StorageClassName == nil && (got == nil || *got != "openebs-hostpath") {
						t.Errorf("%s: volumeClaimTemplates[%d] has class %v, want openebs-hostpath", in.Name, j, got)
					}
					if vct.Spec.StorageClassName != nil && (got == nil || *got != *vct.Spec.StorageClassName) {
						t.Errorf("%s: volumeClaimTemplates[%d] explicit class changed", in.Name, j)
					}
				}
				if in.Spec.Replicas != nil && *in.Spec.Replicas >= 2 {
					n := 0
					for _, b := range after.budgets {
						if b.Namespace == out.Namespace && selects(b.Spec.Selector, tmpl) {
							n++
						}
					}
					if n != 1 {
						t.Errorf("%s: %d PodDisruptionBudgets select its pods, want exactly 1", in.Name, n)
					}
				}
			}
		})
	}
	if total != 30 {
		t.Errorf("checked %d StatefulSets, the corpus has 30", total)
	}
}

func TestCheckUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no paths → usage error", []string{"check"}, 2},
		{"unknown output → usage error", []string{"check", "-o", "yaml", "testdata"}, 2},
		{"unknown flag → usage error", []string{"check", "--frobnicate", "x"}, 2},
		{"invalid policy file → 2, reported with its line", []string{"check", "--policy", "../../check/testdata/bad-policy.yaml", "../../check/testdata/compliant.yaml"}, 2},
		{"valid Warn policy over a co-located set → 0", []string{"check", "--policy", "../../check/testdata/warn-policy.yaml", "../../check/testdata/colocated.yaml"}, 0},
		{"nodes file turns on the capacity check → 1", []string{"check", "--nodes", "../../check/testdata/nodes.yaml", "../../check/testdata/compliant.yaml"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.args...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
		})
	}
	t.Run("the invalid policy's error names the field and line", func(t *testing.T) {
		_, out, _ := runCLI(t, "", "check", "--policy", "../../check/testdata/bad-policy.yaml", "../../check/testdata/compliant.yaml")
		if !strings.Contains(out, "bad-policy.yaml:6:") || !strings.Contains(out, "spec.enforcementActoin") {
			t.Errorf("report:\n%s", out)
		}
	})
}
