//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy/api/v1alpha1"
)

// The upgrade suite proves that upgrades never fight Stowage (issue 8). Every corpus file,
// wrapped as a one-template chart exactly as rendered (the `affinity` nulls of Bitnami's
// elasticsearch and opensearch included), and a minimal elasticsearch-like chart
// (testdata/upgrade-chart), go through the clients users update with: helm install, helm upgrade
// with a changed image, with unchanged values and with --reuse-values, client-side and
// server-side kubectl apply and kubectl replace of the original rendering, and an operator that
// rewrites the whole spec with client-go. Each step must be admitted, keep what Stowage added on
// CREATE (the hard hostname term, the spread, the claim-template class) exactly as stored, change
// the pod template (and so give the StatefulSet a new revision, which rolls the pods) only when
// the client changed it, and leave resourceVersion and generation alone when nothing changed.
// Two more cases remove the term the documented ways: the opt-out annotation in a namespace the
// policy lists, and antiAffinity.mode Off. The table goes to bin/upgrade-report.md; the test
// fails on any cell that differs from the expectation, which the table shows next to it.
//
// Every namespace here has a ResourceQuota of zero pods: the StatefulSets' revisions, which
// decide whether pods roll, are computed by the StatefulSet controller all the same, and no pod
// status churns the objects' resourceVersions between two steps.

// upgradeCase is one chart installed in a namespace of its own.
type upgradeCase struct {
	name     string // the row label: a corpus file, or the fixture chart
	chart    string // chart directory
	ns       string
	release  string
	original []string // helm --set flags of the original rendering
	changed  []string // helm --set flags that change every StatefulSet's image
	renders  map[string]string
}

// expect is what one step must do to every StatefulSet of the case.
type expect struct {
	template bool   // the pod template changes (and with it the revision: the pods roll)
	rv       bool   // resourceVersion changes
	term     bool   // the required hostname term is there afterwards
	spread   bool   // the zone spread constraint is there afterwards
	warning  string // a substring the client's output must show ("" for none required)
	// stable: Stowage's additions must equal what was stored right after install.
	stable bool
}

// upgradeStep is one client acting on the case.
type upgradeStep struct {
	client string
	run    func(t *testing.T, c *upgradeCase) (output string, err error)
	want   expect
}

// observed is what a step did, over every StatefulSet of the case.
type observed struct {
	admitted                           bool
	message                            string
	template, revision, generation, rv int // how many StatefulSets changed
	sets                               int
	term, spread, class                int // how many StatefulSets have them afterwards
	unstable                           []string
	warned                             bool
	rvWhy                              []string // what changed with the resourceVersion
	rvTimeOnly                         int      // StatefulSets whose only change is a managedFields time
}

type upgradeRow struct {
	file, client string
	want         expect
	got          observed
	bad          []string
}

func TestUpgradesKeepWhatStowageAdded(t *testing.T) {
	start := time.Now()
	fixture := filepath.Join(env.root, "e2e/testdata/upgrade-chart")
	var cases []*upgradeCase
	for _, f := range testcorpus.Files(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		cases = append(cases, &upgradeCase{
			name: filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f), chart: wrapAsChart(t, f, name),
			ns: "u-" + name, release: "r", changed: []string{"--set", "imageSuffix=-patched"},
		})
	}
	cases = append(cases, &upgradeCase{name: "e2e/testdata/upgrade-chart", chart: fixture, ns: "u-fixture", release: "es",
		changed: []string{"--set", "image.tag=9.1.3-debian-12-r0"}})

	var mu sync.Mutex
	var rows []upgradeRow
	// Four cases at a time: the time goes into waiting on helm, kubectl and the API server. The
	// subtests are not t.Parallel, so -parallel (GOMAXPROCS) does not cap them.
	type job struct {
		name string
		run  func(t *testing.T) []upgradeRow
	}
	var jobs []job
	for i, c := range cases {
		jobs = append(jobs, job{c.name, func(t *testing.T) []upgradeRow {
			r := runUpgradeCase(t, c, upgradeSteps())
			for j := range r {
				r[j].file = fmt.Sprintf("%03d %s", i, r[j].file)
			}
			return r
		}})
	}
	jobs = append(jobs,
		job{"removal: opt-out annotation where the policy allows it", func(t *testing.T) []upgradeRow { return runOptOutRemoval(t, fixture) }},
		job{"removal: antiAffinity.mode Off", func(t *testing.T) []upgradeRow { return runModeOffRemoval(t, fixture) }})
	queue := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				t.Run(j.name, func(t *testing.T) {
					r := j.run(t)
					mu.Lock()
					defer mu.Unlock()
					rows = append(rows, r...)
				})
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()

	report := upgradeReport(rows, time.Since(start))
	path := filepath.Join(env.root, "bin", "upgrade-report.md")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		if err := os.WriteFile(path, []byte(report), 0o644); err == nil {
			t.Logf("report written to %s", path)
		}
	}
	t.Log("\n" + report)
	bad := 0
	for _, r := range rows {
		if len(r.bad) > 0 {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d unexpected rows in the upgrade table (marked ✗)", bad)
	}
}

// upgradeSteps is what every chart goes through, in order, after helm install.
func upgradeSteps() []upgradeStep {
	kept := func(template, rv bool) expect {
		return expect{template: template, rv: rv, term: true, spread: true, stable: true}
	}
	return []upgradeStep{
		{"helm upgrade --set <new image>", func(t *testing.T, c *upgradeCase) (string, error) {
			return helmRun(c, append([]string{"upgrade", c.release, c.chart}, c.changed...)...)
		}, kept(true, true)},
		{"helm upgrade --set <new image> (unchanged values)", func(t *testing.T, c *upgradeCase) (string, error) {
			return helmRun(c, append([]string{"upgrade", c.release, c.chart}, c.changed...)...)
		}, kept(false, false)},
		{"helm upgrade --reuse-values", func(t *testing.T, c *upgradeCase) (string, error) {
			return helmRun(c, "upgrade", c.release, c.chart, "--reuse-values")
		}, kept(false, false)},
		// The original rendering puts the original image back: the client changes the template.
		// Client-side apply also adds its last-applied annotation.
		{"kubectl apply (original rendering)", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "apply", "-f", "-")
		}, kept(true, true)},
		{"kubectl apply (again)", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "apply", "-f", "-")
		}, kept(false, false)},
		// Taking over the fields from helm and kubectl changes managedFields.
		{"kubectl apply --server-side --force-conflicts", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "apply", "--server-side", "--force-conflicts", "-f", "-")
		}, kept(false, true)},
		{"kubectl apply --server-side --force-conflicts (again)", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "apply", "--server-side", "--force-conflicts", "-f", "-")
		}, kept(false, false)},
		// Replace drops helm's ownership annotations and kubectl's last-applied annotation.
		{"kubectl replace", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "replace", "-f", "-")
		}, kept(false, true)},
		{"kubectl replace (again)", func(t *testing.T, c *upgradeCase) (string, error) {
			return kubectlRendering(t, c, c.original, "replace", "-f", "-")
		}, kept(false, false)},
		{"operator: client-go Update of the full spec, new image", func(t *testing.T, c *upgradeCase) (string, error) {
			return "", operatorRewrite(t, c, c.changed)
		}, kept(true, true)},
		{"operator: client-go Update of the full spec (again)", func(t *testing.T, c *upgradeCase) (string, error) {
			return "", operatorRewrite(t, c, c.changed)
		}, kept(false, false)},
	}
}

// upgradeNamespace creates the case's namespace with a quota of zero pods.
func upgradeNamespace(t *testing.T, ns string) {
	t.Helper()
	namespace(t, ns, nil)
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: ns},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
	if err := env.cluster.Client.Create(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	// The quota admission plugin denies pods only once the quota's status is computed.
	eventually(t, 30*time.Second, "the quota is computed", func() (bool, error) {
		got := &corev1.ResourceQuota{}
		if err := env.cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(q), got); err != nil {
			return false, err
		}
		_, ok := got.Status.Hard[corev1.ResourcePods]
		return ok, nil
	})
}

// runUpgradeCase installs the chart and runs the steps, returning one row per step.
func runUpgradeCase(t *testing.T, c *upgradeCase, steps []upgradeStep) []upgradeRow {
	upgradeNamespace(t, c.ns)
	var rows []upgradeRow
	out, err := helmRun(c, append([]string{"install", c.release, c.chart}, c.original...)...)
	install := upgradeRow{file: c.name, client: "helm install", want: expect{term: true, spread: true}}
	install.got.admitted = err == nil
	if err != nil {
		install.got.message = out
		install.bad = append(install.bad, "denied: "+firstLine(out))
		return append(rows, install)
	}
	base := settle(t, c.ns)
	if len(base) == 0 {
		t.Fatalf("%s: no StatefulSet installed", c.name)
	}
	install.got = describeInstall(base)
	install.bad = compare(install.want, install.got, false)
	rows = append(rows, install)

	prev := base
	for _, s := range steps {
		row, now := runStep(t, c, s, base, prev)
		rows = append(rows, row)
		prev = now
	}
	for _, r := range rows {
		if len(r.bad) > 0 {
			t.Errorf("%s, %s: %s", r.file, r.client, strings.Join(r.bad, "; "))
		}
	}
	return rows
}

// runStep runs one step and compares the StatefulSets before and after it.
func runStep(t *testing.T, c *upgradeCase, s upgradeStep, base, before map[string]*appsv1.StatefulSet) (upgradeRow, map[string]*appsv1.StatefulSet) {
	row := upgradeRow{file: c.name, client: s.client, want: s.want}
	out, err := s.run(t, c)
	row.got.admitted = err == nil
	if err != nil {
		row.got.message = firstLine(err.Error() + " " + out)
	}
	row.got.warned = s.want.warning != "" && strings.Contains(out, s.want.warning)
	if s.want.warning != "" && !row.got.warned {
		row.got.message = strings.Join(strings.Fields(out), " ")
	}
	after := settle(t, c.ns)
	row.got.sets = len(after)
	for name, a := range after {
		b, ok := before[name]
		if !ok {
			row.bad = append(row.bad, "new StatefulSet "+name)
			continue
		}
		if !apiequality.Semantic.DeepEqual(b.Spec.Template, a.Spec.Template) {
			row.got.template++
		}
		if b.Status.UpdateRevision != a.Status.UpdateRevision {
			row.got.revision++
		}
		if b.Generation != a.Generation {
			row.got.generation++
		}
		if b.ResourceVersion != a.ResourceVersion {
			row.got.rv++
			row.got.rvWhy = append(row.got.rvWhy, changedParts(b, a)...)
			if parts := changedParts(b, a); len(parts) == 1 && parts[0] == managedFieldsTime {
				row.got.rvTimeOnly++
			}
		}
		countStowage(&row.got, a)
		if s.want.stable {
			if d := stowageDiff(base[name], a); d != "" {
				row.got.unstable = append(row.got.unstable, name+": "+d)
			}
		}
	}
	row.bad = compare(s.want, row.got, true)
	return row, after
}

func describeInstall(sets map[string]*appsv1.StatefulSet) observed {
	o := observed{admitted: true, sets: len(sets)}
	for _, s := range sets {
		countStowage(&o, s)
	}
	return o
}

func countStowage(o *observed, s *appsv1.StatefulSet) {
	if hasHardHostnameAntiAffinity(s) {
		o.term++
	}
	for _, c := range s.Spec.Template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == v1alpha1.ZoneTopologyKey {
			o.spread++
			break
		}
	}
	classed := true
	for _, v := range s.Spec.VolumeClaimTemplates {
		if v.Spec.StorageClassName == nil || *v.Spec.StorageClassName != "openebs-hostpath" {
			classed = false
		}
	}
	if classed {
		o.class++
	}
}

// stowageDiff says how the anti-affinity, spread and claim-template classes of b differ from a's.
func stowageDiff(a, b *appsv1.StatefulSet) string {
	var d []string
	var aa, ba *corev1.PodAntiAffinity
	if a.Spec.Template.Spec.Affinity != nil {
		aa = a.Spec.Template.Spec.Affinity.PodAntiAffinity
	}
	if b.Spec.Template.Spec.Affinity != nil {
		ba = b.Spec.Template.Spec.Affinity.PodAntiAffinity
	}
	if !apiequality.Semantic.DeepEqual(aa, ba) {
		d = append(d, "podAntiAffinity changed")
	}
	if !apiequality.Semantic.DeepEqual(a.Spec.Template.Spec.TopologySpreadConstraints, b.Spec.Template.Spec.TopologySpreadConstraints) {
		d = append(d, "topologySpreadConstraints changed")
	}
	for i := range a.Spec.VolumeClaimTemplates {
		if i >= len(b.Spec.VolumeClaimTemplates) || !apiequality.Semantic.DeepEqual(a.Spec.VolumeClaimTemplates[i].Spec.StorageClassName, b.Spec.VolumeClaimTemplates[i].Spec.StorageClassName) {
			d = append(d, "claim template class changed")
		}
	}
	return strings.Join(d, ", ")
}

// changedParts names the parts of a StatefulSet that differ between two versions.
func changedParts(a, b *appsv1.StatefulSet) []string {
	var parts []string
	if !apiequality.Semantic.DeepEqual(a.Spec, b.Spec) {
		parts = append(parts, "spec")
	}
	if !apiequality.Semantic.DeepEqual(a.Labels, b.Labels) || !apiequality.Semantic.DeepEqual(a.Annotations, b.Annotations) {
		parts = append(parts, "metadata")
	}
	if !apiequality.Semantic.DeepEqual(a.ManagedFields, b.ManagedFields) {
		if apiequality.Semantic.DeepEqual(untimed(a.ManagedFields), untimed(b.ManagedFields)) {
			parts = append(parts, managedFieldsTime)
		} else {
			parts = append(parts, "managedFields")
		}
	}
	if !apiequality.Semantic.DeepEqual(a.Status, b.Status) {
		parts = append(parts, "status")
	}
	if len(parts) > 1 {
		for i := range parts {
			if parts[i] == managedFieldsTime {
				parts[i] = "managedFields"
			}
		}
	}
	return parts
}

// managedFieldsTime names a change of managedFields in nothing but an entry's time (and so the
// entries' order). The API server's field manager runs before mutating admission: when a
// client's request drops what Stowage then puts back, it has already re-stamped the client's
// entry. Stowage's mutating webhook puts the stored managedFields back when nothing else
// differs, so a no-op step must show no resourceVersion change at all; this label says what
// changed if one ever does.
const managedFieldsTime = "managedFields time only"

// untimed is managedFields without times, sorted.
func untimed(in []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	out := make([]metav1.ManagedFieldsEntry, len(in))
	for i := range in {
		out[i] = *in[i].DeepCopy()
		out[i].Time = nil
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Manager+"\x00"+string(a.Operation)+"\x00"+a.Subresource < b.Manager+"\x00"+string(b.Operation)+"\x00"+b.Subresource
	})
	return out
}

// compare lists the cells of o that differ from e.
func compare(e expect, o observed, step bool) []string {
	var bad []string
	if !o.admitted {
		return []string{"denied: " + o.message}
	}
	all := func(n int, want bool) bool { return (want && n == o.sets) || (!want && n == 0) }
	if step {
		if !all(o.template, e.template) {
			bad = append(bad, fmt.Sprintf("template changed in %d of %d StatefulSets, want %s", o.template, o.sets, yesNo(e.template)))
		}
		if !all(o.revision, e.template) {
			bad = append(bad, fmt.Sprintf("new revision (pods roll) in %d of %d StatefulSets, want %s", o.revision, o.sets, yesNo(e.template)))
		}
		if !all(o.generation, e.template) {
			bad = append(bad, fmt.Sprintf("generation changed in %d of %d StatefulSets, want %s", o.generation, o.sets, yesNo(e.template)))
		}
		if !all(o.rv, e.rv) {
			bad = append(bad, fmt.Sprintf("resourceVersion changed in %d of %d StatefulSets, want %s", o.rv, o.sets, yesNo(e.rv)))
		}
	}
	if !all(o.term, e.term) {
		bad = append(bad, fmt.Sprintf("hard hostname term in %d of %d StatefulSets, want %s", o.term, o.sets, yesNo(e.term)))
	}
	if !all(o.spread, e.spread) {
		bad = append(bad, fmt.Sprintf("zone spread in %d of %d StatefulSets, want %s", o.spread, o.sets, yesNo(e.spread)))
	}
	if o.class != o.sets {
		bad = append(bad, fmt.Sprintf("claim-template class openebs-hostpath in %d of %d StatefulSets", o.class, o.sets))
	}
	if len(o.unstable) > 0 {
		bad = append(bad, "Stowage's additions differ from what install stored: "+strings.Join(o.unstable, "; "))
	}
	if e.warning != "" && !o.warned {
		bad = append(bad, fmt.Sprintf("no warning %q in the client's output: %q", e.warning, firstLine(o.message)))
	}
	return bad
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// settle waits until the StatefulSet controller has seen the latest spec of every StatefulSet in
// ns and computed its revision (with no pods, that status write is its last), so that a later
// resourceVersion change is the next step's. It returns them by name.
func settle(t *testing.T, ns string) map[string]*appsv1.StatefulSet {
	t.Helper()
	var out map[string]*appsv1.StatefulSet
	eventually(t, time.Minute, "the StatefulSet controller is done with every StatefulSet in "+ns, func() (bool, error) {
		out = map[string]*appsv1.StatefulSet{}
		for _, s := range statefulSets(t, ns) {
			if s.Status.ObservedGeneration != s.Generation || s.Status.UpdateRevision == "" {
				return false, nil
			}
			out[s.Name] = s.DeepCopy()
		}
		return true, nil
	})
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// helmRun runs the pinned helm against the shared cluster in the case's namespace.
func helmRun(c *upgradeCase, args ...string) (string, error) {
	full := append(args, "--namespace", c.ns, "--kubeconfig", env.cluster.Kubeconfig)
	cmd := exec.Command(env.helm(), full...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(env.tmp, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(env.tmp, "helm", "config"), "HELM_DATA_HOME="+filepath.Join(env.tmp, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// render is the chart's rendering with the given --set flags, as helm template prints it.
func render(t *testing.T, c *upgradeCase, set []string) string {
	t.Helper()
	key := strings.Join(set, "\x00")
	if out, ok := c.renders[key]; ok {
		return out
	}
	out, err := helmRunStdout(c, append([]string{"template", c.release, c.chart}, set...)...)
	if err != nil {
		t.Fatal(err)
	}
	if c.renders == nil {
		c.renders = map[string]string{}
	}
	c.renders[key] = out
	return out
}

func helmRunStdout(c *upgradeCase, args ...string) (string, error) {
	full := append(args, "--namespace", c.ns, "--kube-version", "v1.37.2")
	cmd := exec.Command(env.helm(), full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// kubectlRendering feeds the chart's rendering to kubectl.
func kubectlRendering(t *testing.T, c *upgradeCase, set []string, args ...string) (string, error) {
	out, errOut, err := kubectlIn(t, render(t, c, set), append([]string{"-n", c.ns}, args...)...)
	return out + errOut, err
}

// operatorRewrite acts as an operator that builds its StatefulSets from scratch on every change
// and writes the whole spec with an Update, as prometheus-operator does: the desired spec from
// the rendering, onto the stored object's metadata.
func operatorRewrite(t *testing.T, c *upgradeCase, set []string) error {
	var errs []string
	for _, doc := range splitDocuments(render(t, c, set)) {
		if documentKind(doc) != "StatefulSet" {
			continue
		}
		want := &appsv1.StatefulSet{}
		if err := yaml.Unmarshal([]byte(doc), want); err != nil {
			t.Fatal(err)
		}
		cur := &appsv1.StatefulSet{}
		if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: c.ns, Name: want.Name}, cur); err != nil {
			t.Fatal(err)
		}
		cur.Spec = want.Spec
		for k, v := range want.Labels {
			if cur.Labels == nil {
				cur.Labels = map[string]string{}
			}
			cur.Labels[k] = v
		}
		if err := env.cluster.Client.Update(context.Background(), cur, client.FieldOwner("e2e-operator")); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

var (
	documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	kindLine          = regexp.MustCompile(`(?m)^kind:[ \t]*"?([A-Za-z]+)"?[ \t]*$`)
	imageLine         = regexp.MustCompile(`(?m)^([ \t]*(?:- )?image:[ \t]*)"?([^"\s]+)"?[ \t]*$`)
	hookAnnotation    = regexp.MustCompile(`(?m)^[ \t]+"?helm\.sh/hook"?:`)
)

func splitDocuments(s string) []string { return documentSeparator.Split(s, -1) }

func documentKind(doc string) string {
	if m := kindLine.FindStringSubmatch(doc); m != nil {
		return m[1]
	}
	return ""
}

// wrapAsChart wraps a rendered corpus file as a one-template chart, written under the suite's
// temporary directory: the rendering verbatim (nulls included), moved to the release's
// namespace, with `{{ .Values.imageSuffix }}` after each StatefulSet image so an upgrade can
// change the pod template. Two kinds of objects are left out: cluster-scoped ones (a
// ClusterRole of the same name from another suite's apply of the same file would make helm
// refuse to adopt it), and helm hooks (their Jobs must complete, and the suite runs no pods).
func wrapAsChart(t *testing.T, file, name string) string {
	return wrapAsChartIn(t, filepath.Join(env.tmp, "charts"), file, name)
}

func wrapAsChartIn(t *testing.T, root, file, name string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, doc := range splitDocuments(string(data)) {
		switch kind := documentKind(doc); {
		case kind == "":
			continue
		case kind == "ClusterRole" || kind == "ClusterRoleBinding" || hookAnnotation.MatchString(doc):
			continue
		case kind == "StatefulSet":
			doc = strings.ReplaceAll(doc, "{{", `{{"{{"}}`)
			doc = imageLine.ReplaceAllString(doc, `${1}"${2}{{ .Values.imageSuffix }}"`)
		default:
			doc = strings.ReplaceAll(doc, "{{", `{{"{{"}}`)
		}
		docs = append(docs, strings.Trim(doc, "\n"))
	}
	manifest := namespaceLine.ReplaceAllString(strings.Join(docs, "\n---\n")+"\n", "${1}namespace: {{ .Release.Namespace }}")
	dir := filepath.Join(root, name)
	files := map[string]string{
		"Chart.yaml":              fmt.Sprintf("apiVersion: v2\nname: %s\nversion: 0.1.0\ndescription: %s from the corpus, as rendered\n", chartName(name), file),
		"values.yaml":             "imageSuffix: \"\"\n",
		"templates/rendered.yaml": manifest,
	}
	for p, content := range files {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// chartName makes a valid chart name of a corpus file's name.
func chartName(s string) string {
	return "corpus-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

// applyPolicy applies a PlacementPolicy, waits until the webhook reports it Ready, and deletes
// it when the test ends.
func applyPolicy(t *testing.T, manifest string) {
	t.Helper()
	p := &v1alpha1.PlacementPolicy{}
	if err := yaml.UnmarshalStrict([]byte(manifest), p); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := kubectlIn(t, manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("applying policy %s: %v\n%s", p.Name, err, errOut)
	}
	t.Cleanup(func() { env.cluster.Client.Delete(context.Background(), p) })
	eventually(t, 30*time.Second, "policy "+p.Name+" reports Ready", func() (bool, error) {
		got := &v1alpha1.PlacementPolicy{}
		if err := env.cluster.Client.Get(context.Background(), client.ObjectKey{Name: p.Name}, got); err != nil {
			return false, nil
		}
		c := apimeta.FindStatusCondition(got.Status.Conditions, "Ready")
		return c != nil && c.Status == metav1.ConditionTrue && got.Status.ObservedGeneration == got.Generation, nil
	})
}

// runOptOutRemoval removes the term with the opt-out annotation: ignored (term kept, warning)
// while the policy does not list the namespace, honoured once it does.
func runOptOutRemoval(t *testing.T, fixture string) []upgradeRow {
	c := &upgradeCase{name: "e2e/testdata/upgrade-chart, opt-out", chart: fixture, ns: "u-opt-out", release: "es"}
	optOut := []string{"--reuse-values", "--set-string", `annotations.stowage\.dev/opt-out=true`}
	steps := []upgradeStep{
		{"helm upgrade --set-string annotations.stowage\\.dev/opt-out=true (namespace not listed)", func(t *testing.T, c *upgradeCase) (string, error) {
			return helmRun(c, append([]string{"upgrade", c.release, c.chart}, optOut...)...)
		}, expect{template: false, rv: true, term: true, spread: true, stable: true}},
		// helm does not print the API server's warnings; kubectl does. The webhooks see only updates
		// that change the spec (their matchConditions), so this one changes the image.
		{"kubectl set image (opt-out annotation there, namespace not listed)", func(t *testing.T, c *upgradeCase) (string, error) {
			out, errOut, err := env.cluster.Kubectl(context.Background(), "-n", c.ns, "set", "image", "statefulset/"+c.release+"-master",
				"elasticsearch=docker.io/bitnami/elasticsearch:9.1.3-debian-12-r0")
			return out + errOut, err
		}, expect{template: true, rv: true, term: true, spread: true, stable: true, warning: "spec.optOut.namespaces"}},
		{"policy lists the namespace in spec.optOut.namespaces; helm upgrade --reuse-values", func(t *testing.T, c *upgradeCase) (string, error) {
			applyPolicy(t, fmt.Sprintf(`apiVersion: stowage.dev/v1alpha1
kind: PlacementPolicy
metadata:
  name: e2e-upgrade-opt-out
spec:
  priority: 20
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %[1]s}
  optOut:
    namespaces: [%[1]s]
`, c.ns))
			return helmRun(c, "upgrade", c.release, c.chart, "--reuse-values")
		}, expect{template: true, rv: true, term: false, spread: true}},
	}
	return runUpgradeCase(t, c, steps)
}

// runModeOffRemoval removes the term and the spread with a policy that turns them off.
func runModeOffRemoval(t *testing.T, fixture string) []upgradeRow {
	c := &upgradeCase{name: "e2e/testdata/upgrade-chart, mode Off", chart: fixture, ns: "u-mode-off", release: "es"}
	steps := []upgradeStep{
		{"policy sets antiAffinity.mode Off, topologySpread.mode Disabled; helm upgrade --reuse-values", func(t *testing.T, c *upgradeCase) (string, error) {
			applyPolicy(t, fmt.Sprintf(`apiVersion: stowage.dev/v1alpha1
kind: PlacementPolicy
metadata:
  name: e2e-upgrade-mode-off
spec:
  priority: 20
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %s}
  antiAffinity:
    mode: "Off"
  topologySpread:
    mode: Disabled
`, c.ns))
			return helmRun(c, "upgrade", c.release, c.chart, "--reuse-values")
		}, expect{template: true, rv: true, term: false, spread: true}},
		// The chart never mentions the spread, so helm leaves it; an edit that drops it removes it.
		{"kubectl patch --type=json (remove the spread)", func(t *testing.T, c *upgradeCase) (string, error) {
			out, errOut, err := env.cluster.Kubectl(context.Background(), "-n", c.ns, "patch", "statefulset", c.release+"-master", "--type=json",
				`-p=[{"op":"remove","path":"/spec/template/spec/topologySpreadConstraints"}]`)
			return out + errOut, err
		}, expect{template: true, rv: true, term: false, spread: false}},
	}
	return runUpgradeCase(t, c, steps)
}

// upgradeReport renders the table: one row per file and client.
func upgradeReport(rows []upgradeRow, total time.Duration) string {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].file < rows[j].file })
	var b strings.Builder
	b.WriteString("# Upgrades never fight Stowage: file × client\n\n")
	b.WriteString("Generated by `e2e/upgrade_test.go` (TestUpgradesKeepWhatStowageAdded, part of `make test-e2e`) on a real\n")
	b.WriteString("kube-apiserver with the Stowage webhook and the default policy, with the pinned helm and kubectl.\n")
	b.WriteString("Each cell counts the file's StatefulSets; `yes` and `no` mean all and none. \"new revision\" is the\n")
	b.WriteString("StatefulSet controller's updateRevision: when it changes, the pods roll. \"has term, spread, class\" is\n")
	b.WriteString("whether the StatefulSets have the hard hostname term, the zone spread and the class afterwards. A ✗ row differs from the expectation (in brackets) and fails the test.\n\n")
	b.WriteString("A step that changes nothing (helm's unchanged values, a re-apply) must leave the resourceVersion alone. The API\n")
	b.WriteString("server's field manager re-stamps the client's managedFields before mutating admission when the request dropped\n")
	b.WriteString("what Stowage puts back; Stowage's mutating webhook then puts the stored managedFields back too, so nothing is written.\n\n")
	b.WriteString("| file | client | admitted | template changed | new revision (pods roll) | generation changed | resourceVersion changed | has term, spread, class | |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		file := r.file
		if len(file) > 4 && file[3] == ' ' {
			file = file[4:]
		}
		o := r.got
		cell := func(n int, want bool) string {
			got := fmt.Sprintf("%d of %d", n, o.sets)
			switch {
			case n == 0:
				got = "no"
			case n == o.sets:
				got = "yes"
			}
			if (want && n != o.sets) || (!want && n != 0) {
				got += " (want " + yesNo(want) + ")"
			}
			return got
		}
		admitted := "yes"
		if !o.admitted {
			admitted = "**denied**: " + strings.ReplaceAll(o.message, "|", "\\|")
		}
		mark := "✓"
		if len(r.bad) > 0 {
			mark = "✗ " + strings.ReplaceAll(strings.Join(r.bad, "; "), "|", "\\|")
		}
		if r.client == "helm install" || !o.admitted {
			fmt.Fprintf(&b, "| %s | %s | %s | — | — | — | — | %s | %s |\n", file, r.client, admitted, stowageCell(o), mark)
			continue
		}
		rvCell := cell(o.rv, r.want.rv) + why(o.rvWhy)
		if !r.want.rv && o.rv > 0 && o.rv == o.rvTimeOnly {
			rvCell = strings.TrimSuffix(cell(o.rv, o.rv == o.sets), " (want no)") + why(o.rvWhy)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", file, r.client, admitted,
			cell(o.template, r.want.template), cell(o.revision, r.want.template), cell(o.generation, r.want.template), rvCell,
			stowageCell(o), mark)
	}
	fmt.Fprintf(&b, "\nWhole upgrade suite: %s.\n", total.Round(time.Second))
	return b.String()
}

// why lists, once each, what changed with the resourceVersion.
func why(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return " (" + strings.Join(out, ", ") + ")"
}

func stowageCell(o observed) string {
	part := func(n int) string {
		switch n {
		case o.sets:
			return "yes"
		case 0:
			return "no"
		}
		return fmt.Sprintf("%d of %d", n, o.sets)
	}
	return part(o.term) + ", " + part(o.spread) + ", " + part(o.class)
}
