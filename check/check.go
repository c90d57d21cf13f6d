package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/stowage-dev/stowage/internal/operatorcr"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
)

// Options configure a run of `stowage check`.
type Options struct {
	// Policies select and define the policy for each object.
	Policies *policy.Set
	// Nodes, when NodesKnown, turn on the node-aware checks.
	Nodes      []*corev1.Node
	NodesKnown bool
	// Namespace is assumed for objects that name none, as `kubectl apply -n` would.
	Namespace string
	// Output is text, json, sarif or junit.
	Output string
	// Diff prints a unified diff per changed object.
	Diff bool
	// Fix writes the whole fixed stream to Stdout; the report then goes to Stderr.
	Fix bool
	// FailOnChange makes a needed mutation exit 1.
	FailOnChange bool
	// Version is reported by SARIF.
	Version string
	// SetupErrors are problems found before the run (an invalid policy or --nodes file). They
	// are reported with the input errors and make the run exit 2.
	SetupErrors []InputError

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Workers bounds how many inputs are processed at once; 0 means GOMAXPROCS.
	Workers int
}

// Output formats.
const (
	OutputText  = "text"
	OutputJSON  = "json"
	OutputSARIF = "sarif"
	OutputJUnit = "junit"
)

// Formats lists the output formats.
var Formats = []string{OutputText, OutputJSON, OutputSARIF, OutputJUnit}

// Run checks every input path ("-" is standard input) and writes the report. It returns the exit
// code; err is set only when the output could not be written or the run was cancelled.
func Run(ctx context.Context, opts Options, paths []string) (int, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Policies == nil {
		opts.Policies = policy.NewSet()
	}
	report, fixed := opts.Stdout, io.Discard
	if opts.Fix {
		report, fixed = opts.Stderr, opts.Stdout
	}
	sink, err := newSink(opts.Output, report, opts.Version)
	if err != nil {
		return ExitInputError, err
	}

	inputs, inputErrs := expand(paths, opts.Stdin)
	var sum Summary
	sum.Files = len(inputs)
	for _, e := range append(opts.SetupErrors, inputErrs...) {
		sum.InputErrors++
		sink.inputError(&e)
	}

	// Pass 1: the facts that documents provide for others (budgets and namespaces), so that a
	// StatefulSet is judged against a chart's budget wherever in the input that budget appears.
	facts := gatherFacts(inputs, opts.Namespace)

	// Pass 2: evaluate the inputs, several at once, and report them in input order. At most
	// Workers+1 inputs are in flight or waiting, so memory follows the largest input, not the sum.
	done := make([]chan *fileResult, len(inputs))
	for i := range done {
		done[i] = make(chan *fileResult, 1)
	}
	slots := make(chan struct{}, opts.Workers+1)
	go func() {
		for i, in := range inputs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for ; i < len(inputs); i++ {
					done[i] <- &fileResult{cancelled: true}
				}
				return
			}
			go func() { done[i] <- processInput(in, &opts, facts) }()
		}
	}()
	for i := range inputs {
		fr := <-done[i]
		if fr.cancelled {
			continue // never took a slot
		}
		<-slots
		sum.Objects += fr.objects
		for j := range fr.errors {
			sum.InputErrors++
			sink.inputError(&fr.errors[j])
		}
		for j := range fr.results {
			sum.add(&fr.results[j])
			sink.result(&fr.results[j])
		}
		if opts.Diff && len(fr.diff) > 0 {
			sink.diff(fr.diff)
		}
		if _, err := fixed.Write(fr.fixed); err != nil {
			return ExitInputError, fmt.Errorf("writing the fixed manifests: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return ExitInputError, err
	}
	sum.ExitCode = sum.exitCode(opts.FailOnChange)
	if err := sink.finish(&sum); err != nil {
		return ExitInputError, fmt.Errorf("writing the report: %w", err)
	}
	return sum.ExitCode, nil
}

// fileResult is what one input produced.
type fileResult struct {
	// cancelled is set for inputs never processed because the run was cancelled.
	cancelled bool
	objects   int
	results   []Result
	errors    []InputError
	fixed     []byte
	diff      []byte
}

// processInput evaluates every document of one input and builds its fixed form: documents in
// their original order, unchanged ones byte for byte (including any that failed to parse, so
// that --fix never drops input), changed ones re-encoded, generated ones after their owner.
func processInput(in *input, opts *Options, facts *clusterFacts) *fileResult {
	fr := &fileResult{}
	data, err := in.read()
	if err != nil {
		fr.errors = append(fr.errors, InputError{Source: in.name, Message: err.Error()})
		return fr
	}
	var fixed, diff bytes.Buffer
	index := 0
	for _, c := range stream.Split(data) {
		var root *yaml.Node
		var before []byte
		var generated []any
		docLine, first := c.Line, true
		errs, _ := stream.ReadChunk(in.name, c, &index, func(d *stream.Document) error {
			fr.objects++
			if first {
				docLine, first = d.Line, false
			}
			res, gen, ierrs := evaluateDocument(d, opts, facts)
			fr.errors = append(fr.errors, ierrs...)
			if res == nil {
				return nil
			}
			if len(res.Patch) > 0 && (opts.Fix || opts.Diff) {
				if root == nil && opts.Diff {
					before, _ = stream.Encode(d.Root)
				}
				if err := stream.ApplyPatch(d.Node, res.Patch); err != nil {
					fr.errors = append(fr.errors, InputError{Source: d.Source, Line: d.Line,
						Message: fmt.Sprintf("%s %s: cannot apply the policy's patch to this document: %v", d.Kind, d.Ref(), err)})
				} else {
					root = d.Root
				}
			}
			fr.results = append(fr.results, *res)
			generated = append(generated, gen...)
			return nil
		})
		for _, e := range errs {
			fr.errors = append(fr.errors, toInputError(in.name, e))
		}
		if !opts.Fix && !opts.Diff {
			continue
		}
		fixed.WriteString("---\n")
		if root != nil {
			after, err := stream.Encode(root)
			if err != nil {
				fr.errors = append(fr.errors, InputError{Source: in.name, Line: c.Line, Message: "cannot encode the fixed document: " + err.Error()})
				writeText(&fixed, c.Text)
			} else {
				fixed.Write(after)
				if opts.Diff {
					writeDiff(&diff, in.name, docLine, before, after)
				}
			}
		} else {
			writeText(&fixed, c.Text)
		}
		for _, g := range generated {
			n, err := stream.ValueNode(g)
			if err != nil {
				continue
			}
			out, err := stream.Encode(n)
			if err != nil {
				continue
			}
			fixed.WriteString("---\n# Generated by stowage check: protects the StatefulSet above during drains.\n")
			fixed.Write(out)
			if opts.Diff {
				writeDiff(&diff, in.name, docLine, nil, out)
			}
		}
	}
	fr.fixed = fixed.Bytes()
	fr.diff = diff.Bytes()
	return fr
}

func writeText(w *bytes.Buffer, text []byte) {
	w.Write(text)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		w.WriteByte('\n')
	}
}

func writeDiff(w *bytes.Buffer, source string, line int, before, after []byte) {
	name := fmt.Sprintf("%s:%d", source, line)
	from := "a/" + name
	if before == nil {
		from = "/dev/null"
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
		FromFile: from, ToFile: "b/" + name, Context: 3,
	})
	if err == nil {
		w.WriteString(text)
	}
}

func toInputError(source string, e error) InputError {
	if se, ok := e.(*stream.Error); ok {
		return InputError{Source: se.Source, Line: se.Line, Message: se.Message}
	}
	return InputError{Source: source, Message: e.Error()}
}

// object is what evaluateDocument needs of the objects it decodes.
type object interface {
	kruntime.Object
	GetNamespace() string
	SetNamespace(string)
	GetLabels() map[string]string
}

// wantAPIVersion is the only served version of each evaluated kind.
var wantAPIVersion = map[string]string{"StatefulSet": "apps/v1", "PersistentVolumeClaim": "v1"}

// evaluateDocument evaluates one object if it is a StatefulSet or PersistentVolumeClaim, and
// returns its result and the objects Stowage would create for it.
func evaluateDocument(d *stream.Document, opts *Options, facts *clusterFacts) (*Result, []any, []InputError) {
	var obj object
	switch {
	case d.Kind == "StatefulSet" && d.APIVersion == "apps/v1":
		obj = &appsv1.StatefulSet{}
	case d.Kind == "PersistentVolumeClaim" && d.APIVersion == "v1":
		obj = &corev1.PersistentVolumeClaim{}
	case wantAPIVersion[d.Kind] != "":
		return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: fmt.Sprintf(
			"%s %s uses apiVersion %s, which Kubernetes does not serve; use %s", d.Kind, d.Ref(), d.APIVersion, wantAPIVersion[d.Kind])}}
	default:
		if k := operatorcr.Lookup(d.APIVersion, d.Kind); k != nil {
			return evaluateCustomResource(d, k, opts, facts)
		}
		return nil, nil, nil // other kinds pass through untouched
	}
	var errs []InputError
	fieldErrs, err := stream.Decode(d, obj)
	if err != nil {
		line := stream.ErrorLine(err)
		if line == 0 {
			line = d.Line
		}
		return nil, nil, []InputError{{Source: d.Source, Line: line, Message: fmt.Sprintf("%s %s: %v", d.Kind, d.Ref(), err)}}
	}
	for _, fe := range fieldErrs {
		errs = append(errs, InputError{Source: d.Source, Line: fe.Line, Message: fmt.Sprintf("%s %s: %s", d.Kind, d.Ref(), fe.Message)})
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(opts.Namespace)
	}
	ns := obj.GetNamespace()
	res := &Result{Source: d.Source, Line: d.Line, APIVersion: d.APIVersion, Kind: d.Kind, Namespace: ns, Name: d.Name,
		Violations: []Violation{}, Patch: []jsonpatch.Operation{}, Generated: []any{}}
	dec, err := opts.Policies.Decide(policy.Input{
		Operation: policy.Create, Object: obj, NamespaceLabels: facts.namespaceLabels(ns),
		Facts: func() (policy.Facts, error) {
			return policy.Facts{NodesKnown: opts.NodesKnown, Nodes: opts.Nodes, PDBs: facts.budgets[ns]}, nil
		},
	})
	if err != nil {
		return nil, nil, append(errs, InputError{Source: d.Source, Line: d.Line, Message: err.Error()})
	}
	if dec.Result == nil {
		res.Skipped = string(dec.Skip)
		return res, nil, errs
	}
	res.Policy = dec.Policy.Name
	out := dec.Result
	res.Exempt = out.Exempt
	for _, v := range out.Violations {
		path := v.Field.String()
		res.Violations = append(res.Violations, Violation{Rule: v.Rule, Field: path, Message: v.Message,
			Severity: v.Severity, Line: stream.LineOf(d.Node, path)})
	}
	if out.Patch != nil {
		res.Patch = out.Patch
	}
	var gen []any
	if sts, ok := obj.(*appsv1.StatefulSet); ok && out.PDB != nil && !facts.budgetInPlace(sts, out.PDB.Name) {
		if d.Namespace == "" {
			out.PDB.Namespace = "" // keep the input's convention: no namespace when it names none
		}
		g := manifest(out.PDB)
		res.Generated = append(res.Generated, g)
		gen = append(gen, g)
	}
	return res, gen, errs
}

// manifest turns an object into what one would apply: its JSON form without status and
// without the empty creationTimestamp that typed objects carry.
func manifest(obj any) map[string]any {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok && meta["creationTimestamp"] == nil {
		delete(meta, "creationTimestamp")
	}
	return m
}
