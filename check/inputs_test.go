package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	syaml "sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/policy"
)

// sts is a StatefulSet the default policy patches (no anti-affinity) and generates a budget for.
func sts(name, extraMeta string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
%[2]sspec:
  replicas: 3
  serviceName: %[1]s
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: db
          image: postgres:17
`, name, extraMeta)
}

const budget = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: db
  namespace: mq
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: db}
`

// kubectlDocuments reads a stream exactly as `kubectl apply -f` does: apimachinery's
// YAMLOrJSONDecoder (its YAMLReader, then sigs.k8s.io/yaml) into RawExtensions, skipping empty
// documents. Every object must have an apiVersion and a kind, or kubectl refuses it.
func kubectlDocuments(t *testing.T, data []byte) []json.RawMessage {
	t.Helper()
	dec := kyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []json.RawMessage
	for {
		var ext runtime.RawExtension
		err := dec.Decode(&ext)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("kubectl cannot read the output: %v\n%q", err, data)
		}
		if len(ext.Raw) == 0 || string(ext.Raw) == "null" {
			continue
		}
		var tm struct{ APIVersion, Kind string }
		if err := json.Unmarshal(ext.Raw, &tm); err != nil || tm.APIVersion == "" || tm.Kind == "" {
			t.Fatalf("kubectl reads an object without apiVersion or kind (%v): %s", err, ext.Raw)
		}
		out = append(out, ext.Raw)
	}
}

func runCtx(t *testing.T, ctx context.Context, opts Options, paths ...string) (run, error) {
	t.Helper()
	var out, errb bytes.Buffer
	if opts.Policies == nil {
		opts.Policies = policy.NewSet(policyfile.Default())
	}
	opts.Stdout, opts.Stderr = &out, &errb
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	code, err := Run(ctx, opts, paths)
	return run{code, out.String(), errb.String()}, err
}

// Issue 10, item 1: a pipe (what <(helm template ...) and /dev/stdin are) is read once.
func TestPipeIsReadOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		io.WriteString(w, sts("db", "  namespace: mq\n")+"---\n"+budget)
		w.Close()
	}()
	rep, code := jsonReport(t, Options{}, fmt.Sprintf("/dev/fd/%d", r.Fd()))
	if rep.Summary.Objects != 2 || rep.Summary.Evaluated != 1 {
		t.Fatalf("objects %d, evaluated %d; want 2 and 1 (exit %d, errors %+v)", rep.Summary.Objects, rep.Summary.Evaluated, code, rep.Errors)
	}
	if len(rep.Results[0].Generated) != 0 {
		t.Errorf("the budget in the pipe was not seen: generated %v", rep.Results[0].Generated)
	}
}

// Issue 10, item 1: a FIFO is opened and read once; a second open would block for ever.
func TestFIFOIsReadOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v (the test needs a Unix FIFO; every CI machine has them)", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		io.WriteString(f, sts("db", "  namespace: mq\n")+"---\n"+budget)
		f.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan run, 1)
	go func() {
		opts := Options{Output: OutputJSON}
		r, _ := runCtx(t, ctx, opts, fifo)
		done <- r
	}()
	select {
	case r := <-done:
		var rep Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if rep.Summary.Objects != 2 || rep.Summary.Evaluated != 1 {
			t.Fatalf("objects %d, evaluated %d; want 2 and 1", rep.Summary.Objects, rep.Summary.Evaluated)
		}
	case <-time.After(15 * time.Second):
		// Unblock the stuck open, so the test binary can exit.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("check did not finish reading a FIFO: it opened it twice")
	}
}

// Issue 10, item 1: a FIFO nobody writes to blocks the open; cancelling (SIGTERM) still ends the run.
func TestBlockedFIFOHonoursCancel(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v (the test needs a Unix FIFO; every CI machine has them)", err)
	}
	defer func() { // release the abandoned open
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runCtx(t, ctx, Options{}, fifo)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run error = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling did not end a run blocked on a FIFO")
	}
}

// Issue 10, item 1: an empty input (a failed `helm template` piped without pipefail) is a
// warning, and an input error with --fail-on-empty.
func TestEmptyInput(t *testing.T) {
	for _, stdin := range []string{"", "# only a comment\n---\n"} {
		rep, code := jsonReport(t, Options{Stdin: strings.NewReader(stdin)}, "-")
		if code != ExitOK || len(rep.Warnings) != 1 || rep.Summary.InputWarnings != 1 || !strings.Contains(rep.Warnings[0].Message, "holds no objects") {
			t.Errorf("stdin %q: exit %d, warnings %+v; want exit 0 and one warning", stdin, code, rep.Warnings)
		}
		rep, code = jsonReport(t, Options{Stdin: strings.NewReader(stdin), FailOnEmpty: true}, "-")
		if code != ExitInputError || len(rep.Errors) != 1 || rep.Errors[0].Source != "-" {
			t.Errorf("stdin %q with --fail-on-empty: exit %d, errors %+v; want exit 2 and one error", stdin, code, rep.Errors)
		}
	}
	r := check(t, Options{Stdin: strings.NewReader("")}, "-")
	if !strings.Contains(r.stdout, "-: input warning: holds no objects") {
		t.Errorf("text report does not show the warning:\n%s", r.stdout)
	}
	// A file with objects beside the empty one: only the empty one is named.
	rep, _ := jsonReport(t, Options{Stdin: strings.NewReader("")}, "testdata/compliant.yaml", "-")
	if len(rep.Warnings) != 1 || rep.Warnings[0].Source != "-" {
		t.Errorf("warnings %+v, want one for -", rep.Warnings)
	}
}

// Issue 10, item 2: with byte order marks in the input, kubectl's own decoder reads the --fix
// output: every object, changed or not.
func TestFixOutputWithByteOrderMarkReadsInKubectl(t *testing.T) {
	bom := "\ufeff"
	in := bom + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n" + "---\n" + bom + sts("a", "") + "---\n" + bom + sts("b", "") +
		"---\n" + bom + `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}` + "\n"
	r := check(t, Options{Fix: true, Stdin: strings.NewReader(in)}, "-")
	docs := kubectlDocuments(t, []byte(r.stdout))
	var kinds []string
	for _, d := range docs {
		var m struct{ Kind string }
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m.Kind)
	}
	want := []string{"ConfigMap", "StatefulSet", "PodDisruptionBudget", "StatefulSet", "PodDisruptionBudget", "ConfigMap"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("objects kubectl reads from the --fix output (-want +got):\n%s\noutput:\n%q", diff, r.stdout)
	}
	if strings.Contains(r.stdout, bom) {
		t.Errorf("the output still holds a byte order mark: %q", r.stdout)
	}
}

// Issue 10, item 3: in a List where StatefulSet b aliases a's affinity block, --fix must write
// each StatefulSet as the report's patch says: a's term must not leak into b.
func TestFixAnchorSharedByListItems(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: a}
  spec:
    replicas: 3
    serviceName: a
    selector: {matchLabels: {app: a}}
    template:
      metadata: {labels: {app: a}}
      spec:
        affinity: &aff
          nodeAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms:
              - matchExpressions: [{key: disk, operator: In, values: [ssd]}]
        containers: [{name: db, image: postgres:17}]
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: b}
  spec:
    replicas: 3
    serviceName: b
    selector: {matchLabels: {app: b}}
    template:
      metadata: {labels: {app: b}}
      spec:
        affinity: *aff
        containers: [{name: db, image: postgres:17}]
`
	var report, out bytes.Buffer
	opts := Options{Fix: true, Output: OutputJSON, Stdin: strings.NewReader(in), Policies: policy.NewSet(policyfile.Default()),
		Stdout: &out, Stderr: &report}
	if _, err := Run(context.Background(), opts, []string{"-"}); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(report.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, report.String())
	}
	var list struct{ Items []json.RawMessage }
	if err := syaml.Unmarshal([]byte(in), &list); err != nil {
		t.Fatal(err)
	}
	original := map[string]json.RawMessage{}
	for _, it := range list.Items {
		var m struct{ Metadata struct{ Name string } }
		json.Unmarshal(it, &m)
		original[m.Metadata.Name] = it
	}
	written := map[string]json.RawMessage{}
	for _, d := range kubectlDocuments(t, out.Bytes()) {
		var l struct {
			Kind  string
			Items []json.RawMessage
		}
		json.Unmarshal(d, &l)
		for _, it := range l.Items {
			var m struct{ Metadata struct{ Name string } }
			json.Unmarshal(it, &m)
			written[m.Metadata.Name] = it
		}
	}
	if len(rep.Results) != 2 {
		t.Fatalf("results %+v", rep.Results)
	}
	for _, res := range rep.Results {
		if len(res.Patch) == 0 {
			t.Fatalf("%s: no patch", res.Name)
		}
		pj, _ := json.Marshal(res.Patch)
		p, err := jsonpatch5.DecodePatch(pj)
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.Apply(original[res.Name])
		if err != nil {
			t.Fatalf("%s: %v", res.Name, err)
		}
		var w, g appsv1.StatefulSet
		if _, err := kjson.UnmarshalStrict(want, &w); err != nil {
			t.Fatal(err)
		}
		if _, err := kjson.UnmarshalStrict(written[res.Name], &g); err != nil {
			t.Fatalf("%s: %v", res.Name, err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s: the written object is not the report's patch applied (-patch +written):\n%s\noutput:\n%s", res.Name, diff, out.String())
		}
	}
}

// Issue 10, item 4: values are read as kubectl reads them (YAML 1.1): a plain yes is a bool, so
// a label `a: yes` is rejected with its line, and strings that YAML 1.1 would misread come out
// of --fix so that kubectl reads them as the same strings.
func TestYAML11AsKubectl(t *testing.T) {
	in := sts("db", "  labels: {a: yes}\n")
	rep, code := jsonReport(t, Options{Stdin: strings.NewReader(in)}, "-")
	if code != ExitInputError || len(rep.Errors) != 1 || rep.Errors[0].Line != 5 || !strings.Contains(rep.Errors[0].Message, "metadata.labels") {
		t.Fatalf("exit %d, errors %+v; want an input error at line 5 about metadata.labels", code, rep.Errors)
	}

	tricky := map[string]string{"a": "yes", "b": "on", "c": "1:30", "d": "0o17", "e": "010", "f": "1_000", "g": "Off", "h": "y", "i": "~", "j": "0x1F", "k": "1e3"}
	var labels []string
	for k, v := range tricky {
		labels = append(labels, fmt.Sprintf("%s: %q", k, v))
	}
	set := "{" + strings.Join(labels, ", ") + "}"
	src := strings.NewReplacer("matchLabels: {app: db}", "matchLabels: "+set, "labels: {app: db}", "labels: "+set).Replace(sts("db", ""))
	r := check(t, Options{Fix: true, Stdin: strings.NewReader(src)}, "-")
	docs := kubectlDocuments(t, []byte(r.stdout))
	if len(docs) != 2 {
		t.Fatalf("kubectl reads %d objects, want 2:\n%s", len(docs), r.stdout)
	}
	var s appsv1.StatefulSet
	if _, err := kjson.UnmarshalStrict(docs[0], &s); err != nil {
		t.Fatalf("StatefulSet: %v\n%s", err, r.stdout)
	}
	var b policyv1.PodDisruptionBudget
	if _, err := kjson.UnmarshalStrict(docs[1], &b); err != nil {
		t.Fatalf("budget: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(tricky, b.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("budget selector as kubectl reads it (-want +got):\n%s\n%s", diff, r.stdout)
	}
	aa := s.Spec.Template.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Fatalf("no anti-affinity term written:\n%s", r.stdout)
	}
	term := aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	for k, v := range tricky {
		if term.LabelSelector.MatchLabels[k] != v {
			t.Errorf("term selector %s = %q as kubectl reads it, want %q", k, term.LabelSelector.MatchLabels[k], v)
		}
	}
}

// Issue 10, item 5: a chart whose budget names its namespace and whose StatefulSet does not
// (VerneMQ): the StatefulSet is checked in the budget's namespace, the budget counts, and the
// run says so.
func TestNamespaceAgreedByTheInput(t *testing.T) {
	in := sts("db", "") + "---\n" + budget
	rep, code := jsonReport(t, Options{Stdin: strings.NewReader(in)}, "-")
	if code != ExitOK || len(rep.Results) != 1 {
		t.Fatalf("exit %d, results %+v, errors %+v", code, rep.Results, rep.Errors)
	}
	if res := rep.Results[0]; res.Namespace != "mq" || len(res.Generated) != 0 {
		t.Errorf("namespace %q, generated %v; want mq and nothing generated (the chart's budget counts)", res.Namespace, res.Generated)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Line != 1 || !strings.Contains(rep.Warnings[0].Message, "checked as in mq") {
		t.Errorf("warnings %+v; want one at line 1 saying the StatefulSet is checked in mq", rep.Warnings)
	}

	// With -n naming the same namespace, there is nothing to say.
	rep, _ = jsonReport(t, Options{Namespace: "mq", Stdin: strings.NewReader(in)}, "-")
	if len(rep.Warnings) != 0 || len(rep.Results[0].Generated) != 0 {
		t.Errorf("-n mq: warnings %+v, generated %v; want none", rep.Warnings, rep.Results[0].Generated)
	}
	// With -n naming another, the budget's own namespace stands and kubectl's refusal is named.
	rep, _ = jsonReport(t, Options{Namespace: "other", Stdin: strings.NewReader(in)}, "-")
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0].Message, "kubectl apply -n other") || rep.Results[0].Namespace != "other" {
		t.Errorf("-n other: warnings %+v, namespace %q", rep.Warnings, rep.Results[0].Namespace)
	}
	// Objects naming two namespaces: no namespace is guessed for the others, and that is said.
	two := in + "---\n" + strings.Replace(budget, "namespace: mq", "namespace: other", 1)
	rep, _ = jsonReport(t, Options{Stdin: strings.NewReader(two)}, "-")
	if rep.Results[0].Namespace != "" || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0].Message, "mq, other") {
		t.Errorf("two namespaces: namespace %q, warnings %+v", rep.Results[0].Namespace, rep.Warnings)
	}
	// No object names one: nothing to say.
	rep, _ = jsonReport(t, Options{Stdin: strings.NewReader(sts("db", ""))}, "-")
	if len(rep.Warnings) != 0 {
		t.Errorf("no namespaces: warnings %+v", rep.Warnings)
	}
}

// Issue 10, item 6: a policy/v1beta1 budget is as invalid on a current cluster as an
// apps/v1beta1 StatefulSet: an input error with its line, never silently skipped.
func TestObsoleteAPIVersions(t *testing.T) {
	for _, tc := range []struct{ apiVersion, kind, want string }{
		{"policy/v1beta1", "PodDisruptionBudget", "use policy/v1"},
		{"apps/v1beta1", "StatefulSet", "use apps/v1"},
		{"extensions/v1beta1", "Deployment", "use apps/v1"},
		{"batch/v1beta1", "CronJob", "use batch/v1"},
		{"policy/v1beta1", "PodSecurityPolicy", "no replacement"},
	} {
		in := sts("ok", "  namespace: x\n") + fmt.Sprintf("---\napiVersion: %s\nkind: %s\nmetadata: {name: old, namespace: x}\n", tc.apiVersion, tc.kind)
		rep, code := jsonReport(t, Options{Stdin: strings.NewReader(in)}, "-")
		if code != ExitInputError || len(rep.Errors) != 1 || rep.Errors[0].Line != 19 || !strings.Contains(rep.Errors[0].Message, tc.want) {
			t.Errorf("%s %s: exit %d, errors %+v; want one at line 19 saying %q", tc.apiVersion, tc.kind, code, rep.Errors, tc.want)
		}
		if len(rep.Results) != 1 {
			t.Errorf("%s %s: the StatefulSet beside it was not checked", tc.apiVersion, tc.kind)
		}
	}
}

// TestFirstPassDocumentsAreParsedOnce: the documents the first pass parses in full (budgets,
// Namespaces) are not parsed again by the second unless it evaluates them, and the report and
// the --fix output are the same as when they are: same objects, same errors at the same lines
// (a broken budget, an obsolete one), same bytes out.
func TestFirstPassDocumentsAreParsedOnce(t *testing.T) {
	in := budget + "---\n" + sts("db", "  namespace: mq\n") +
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: mq\n  labels: {team: a}\n" +
		"---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: old, namespace: mq}\n" +
		"---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: broken\n\tnamespace: mq\n" +
		"---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: l, namespace: mq}}\n" +
		"---\n# Namespace: only a comment\n" +
		"---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: flow, namespace: mq}\nspec: {replicas: 1, template: {metadata: {labels: {kind: PodDisruptionBudget}}}}\n"

	inputs, _ := expand([]string{"-"}, strings.NewReader(in))
	if err := inputs[0].load(context.Background()); err != nil {
		t.Fatal(err)
	}
	gatherFacts(inputs, "", 1)
	var reused []int
	for i := range inputs[0].parsed {
		reused = append(reused, i)
	}
	slices.Sort(reused)
	// Chunks 0 (the budget), 2 (the Namespace), 3 (policy/v1beta1), 4 (broken) and 6 (comments
	// only); not the StatefulSets (1, and 7, which the first pass parses for its budget-like
	// label), nor the List (5).
	if diff := cmp.Diff([]int{0, 2, 3, 4, 6}, reused); diff != "" {
		t.Errorf("chunks whose first parse is reused (-want +got):\n%s", diff)
	}

	runs := map[bool]string{}
	for _, reuse := range []bool{true, false} {
		reuseFirstPass = reuse
		var out, errb bytes.Buffer
		code, err := Run(context.Background(), Options{Policies: policy.NewSet(policyfile.Default()), Output: OutputJSON, Fix: true,
			Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb}, []string{"-"})
		reuseFirstPass = true
		if err != nil {
			t.Fatal(err)
		}
		runs[reuse] = fmt.Sprintf("exit %d\nreport %s\nfixed:\n%s", code, errb.String(), out.String())
	}
	if diff := cmp.Diff(runs[false], runs[true]); diff != "" {
		t.Errorf("reusing the first pass changes the run (-parsed twice +reused):\n%s", diff)
	}
	for _, want := range []string{`"line":35`, `"line":43`, `"objects":6`} {
		if !strings.Contains(runs[true], want) {
			t.Errorf("report lacks %s:\n%s", want, runs[true])
		}
	}
}

// TestFactsFromInputsReadAtOnceMergeInInputOrder: the first pass reads inputs concurrently, yet
// what they say merges as if read one after the other: a later budget of the same name replaces
// an earlier one, a later Namespace's labels win, and a namespace is "first named" where the
// first input names it.
func TestFactsFromInputsReadAtOnceMergeInInputOrder(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.yaml": sts("db", "  namespace: mq\n") + "---\n" + budget,
		"b.yaml": strings.Replace(budget, "maxUnavailable: 1", "maxUnavailable: 2", 1) +
			"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: mq\n  labels: {team: a}\n",
		"c.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mq\n  labels: {team: b}\n",
		"d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: other\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(workers int) *clusterFacts {
		inputs, errs := expand([]string{dir}, nil)
		if len(errs) > 0 || len(inputs) != 4 {
			t.Fatalf("inputs %d, errors %v", len(inputs), errs)
		}
		for _, in := range inputs {
			if err := in.load(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return gatherFacts(inputs, "", workers)
	}
	want := read(1)
	if b := want.budgets["mq"]; len(b) != 1 || b[0].Spec.MaxUnavailable.IntValue() != 2 {
		t.Fatalf("budgets %+v; want b.yaml's db alone", b)
	}
	if want.namespaces["mq"]["team"] != "b" || !strings.HasSuffix(want.named["mq"].Source, "a.yaml") || len(want.named) != 2 {
		t.Fatalf("namespaces %v, named %v", want.namespaces, want.named)
	}
	for range 20 {
		if diff := cmp.Diff(want, read(4), cmp.AllowUnexported(clusterFacts{})); diff != "" {
			t.Fatalf("facts read four inputs at once differ from one by one (-one +four):\n%s", diff)
		}
	}
}
