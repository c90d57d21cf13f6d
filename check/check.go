package check

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync/atomic"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	// FailOnEmpty makes an input without objects an input error rather than a warning.
	FailOnEmpty bool
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
//
// Every input is read exactly once, before anything is checked, so that pipes, FIFOs and process
// substitutions work, and the rest streams: documents are evaluated and written one by one, so
// memory follows the size of the input, not the size of the trees and results built from it.
func Run(ctx context.Context, opts Options, paths []string) (int, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Policies == nil {
		opts.Policies = policy.NewSet()
	}
	report, fixedOut := opts.Stdout, io.Discard
	if opts.Fix {
		report, fixedOut = opts.Stderr, opts.Stdout
	}
	sink, err := newSink(opts.Output, report, opts.Version)
	if err != nil {
		return ExitInputError, err
	}
	fixed := bufio.NewWriterSize(fixedOut, 64<<10)

	inputs, inputErrs := expand(paths, opts.Stdin)
	var sum Summary
	sum.Files = len(inputs)
	for _, e := range append(opts.SetupErrors, inputErrs...) {
		sum.InputErrors++
		sink.inputError(&e)
	}
	total := 0
	for _, in := range inputs {
		if err := in.load(ctx); err != nil {
			return ExitInputError, err
		}
		total += len(in.data)
	}
	defer boundHeap(total)()

	// Pass 1: the facts that documents provide for others (budgets and namespaces), so that a
	// StatefulSet is judged against a chart's budget wherever in the input that budget appears.
	facts := gatherFacts(inputs, opts.Namespace, opts.Workers)

	// Pass 2: evaluate the inputs, several at once, and report them in input order as their
	// documents are done. Each input streams through a queue, so at most Workers inputs are in
	// flight, each with at most maxQueued documents waiting. A worker blocked on a full queue
	// waits for this loop, which reads the inputs in order: the input it waits on is the earliest
	// in flight, so the loop reaches it. A queue holds a whole chart's documents, so that a
	// worker does not stall on the next chart while the loop still waits for this one.
	// Returning early (a write error) stops the workers too.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	queues := make([]chan *piece, len(inputs))
	for i, in := range inputs {
		queues[i] = make(chan *piece, min(maxQueued, bytes.Count(in.data, []byte("\n---"))+2))
	}
	// The workers live for the whole pass, so that each grows its stack once.
	var next atomic.Int64
	for range min(opts.Workers, len(inputs)) {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(inputs) {
					return
				}
				if ctx.Err() == nil {
					in := inputs[i]
					processInput(ctx, in, &opts, facts, queues[i])
					in.data, in.parsed, in.metas = nil, nil, nil // done with them
				}
				close(queues[i])
			}
		}()
	}
	var unnamed int
	var firstUnnamed InputError
	for i := range inputs {
		for p := range queues[i] {
			sum.Objects += p.objects
			for j := range p.errors {
				sum.InputErrors++
				sink.inputError(&p.errors[j])
			}
			for j := range p.warnings {
				sum.InputWarnings++
				sink.inputWarning(&p.warnings[j])
			}
			for j := range p.results {
				sum.add(&p.results[j])
				sink.result(&p.results[j])
			}
			if unnamed == 0 && p.unnamed > 0 {
				firstUnnamed = p.firstUnnamed
			}
			unnamed += p.unnamed
			if opts.Diff && len(p.diff) > 0 {
				sink.diff(p.diff)
			}
			if _, err := fixed.Write(p.fixed); err != nil {
				return ExitInputError, fmt.Errorf("writing the fixed manifests: %w", err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return ExitInputError, err
	}
	if err := fixed.Flush(); err != nil {
		return ExitInputError, fmt.Errorf("writing the fixed manifests: %w", err)
	}
	for _, w := range facts.namespaceWarnings(opts.Namespace, unnamed, firstUnnamed) {
		sum.InputWarnings++
		sink.inputWarning(&w)
	}
	sum.ExitCode = sum.exitCode(opts.FailOnChange)
	if err := sink.finish(&sum); err != nil {
		return ExitInputError, fmt.Errorf("writing the report: %w", err)
	}
	return sum.ExitCode, nil
}

// maxQueued bounds the documents of an input done but not yet reported: what they hold (their
// results, and with --fix their text) is at most a few times their input's bytes.
const maxQueued = 256

// heapHeadroom is how much the Go heap may grow past what it holds (mostly the input) before it
// is collected, for large inputs.
const heapHeadroom = 32 << 20

// smallInput is the most input a check may read with the CLI's garbage collector setting
// (GOGC=400): a few charts, whose check allocates a few MiB and so needs no collection at all.
const smallInput = 1 << 20

// boundHeap lowers the garbage collector's target for larger inputs, whose bytes are live for
// the whole run: GOGC=400 would let the heap grow to five times what it holds. Past smallInput
// the target is at most Go's default (GOGC=100), and past heapHeadroom lower still, so that
// memory peaks at the input plus heapHeadroom plus the program itself (the input's bytes hold no
// pointers, so collecting more often costs little). It never raises the target, and returns a
// function that restores it.
func boundHeap(inputBytes int) func() {
	if inputBytes <= smallInput {
		return func() {}
	}
	pct := min(100, max(10, int(100*int64(heapHeadroom)/int64(inputBytes))))
	prev := debug.SetGCPercent(pct)
	if prev >= 0 && prev <= pct {
		debug.SetGCPercent(prev)
	}
	return func() { debug.SetGCPercent(prev) }
}

// piece is what one document of an input produced, or a problem with the whole input.
type piece struct {
	objects  int
	results  []Result
	errors   []InputError
	warnings []InputError
	fixed    []byte
	diff     []byte
	// unnamed counts the namespaced objects that name no namespace; firstUnnamed is the first.
	unnamed      int
	firstUnnamed InputError
}

// processInput evaluates every document of one input and sends, document by document, what it
// found and its fixed form: documents in their original order, unchanged ones byte for byte
// (including any that failed to parse, so that --fix never drops input; only a byte order mark
// is dropped, which kubectl cannot read after a ---), changed ones re-encoded, generated ones
// after their owner.
func processInput(ctx context.Context, in *input, opts *Options, facts *clusterFacts, out chan<- *piece) {
	send := func(p *piece) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if in.err != nil {
		send(&piece{errors: []InputError{{Source: in.name, Message: in.err.Error()}}})
		return
	}
	objects, problems := 0, 0
	index := 0
	read := readChunk(!opts.Fix && !opts.Diff)
	for i, c := range stream.Split(in.data) {
		p := &piece{}
		var fixed, diff bytes.Buffer
		var root *yaml.Node
		var before []byte
		var generated []any
		docLine, first := c.Line, true
		each := func(d *stream.Document) error {
			p.objects++
			if first {
				docLine, first = d.Line, false
			}
			if d.Namespace == "" && !clusterScoped[d.Kind] {
				if p.unnamed == 0 {
					p.firstUnnamed = InputError{Source: d.Source, Line: d.Line, Message: d.Kind + " " + d.Ref()}
				}
				p.unnamed++
			}
			res, gen, ierrs, warns := evaluateDocument(d, opts, facts)
			p.errors = append(p.errors, ierrs...)
			p.warnings = append(p.warnings, warns...)
			if res == nil {
				return nil
			}
			if len(res.Patch) > 0 && (opts.Fix || opts.Diff) {
				if root == nil && opts.Diff {
					before, _ = stream.Encode(d.Root)
				}
				if err := stream.ApplyPatchIn(d.Root, d.Node, res.Patch); err != nil {
					p.errors = append(p.errors, InputError{Source: d.Source, Line: d.Line,
						Message: fmt.Sprintf("%s %s: cannot apply the policy's patch to this document: %v", d.Kind, d.Ref(), err)})
				} else {
					root = d.Root
				}
			}
			p.results = append(p.results, *res)
			generated = append(generated, gen...)
			return nil
		}
		var errs []error
		if rec := in.parsed[i]; rec != nil {
			// Parsed by the first pass, and holding nothing to evaluate: the identities it
			// kept are all that is needed.
			for _, d := range rec.objects {
				each(d)
			}
			errs, index = rec.errs, index+rec.documents
		} else if d := unjudged(in.name, c, index, in.metas[i]); d != nil {
			each(d)
			index++
		} else {
			errs, _ = read(in.name, c, &index, each)
		}
		for _, e := range errs {
			p.errors = append(p.errors, toInputError(in.name, e))
		}
		objects += p.objects
		problems += len(p.errors)
		if opts.Fix || opts.Diff {
			fixed.WriteString("---\n")
			if root != nil {
				after, err := stream.Encode(root)
				if err != nil {
					p.errors = append(p.errors, InputError{Source: in.name, Line: c.Line, Message: "cannot encode the fixed document: " + err.Error()})
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
			p.fixed, p.diff = fixed.Bytes(), diff.Bytes()
		}
		if !send(p) {
			return
		}
	}
	if objects == 0 && problems == 0 {
		e := InputError{Source: in.name, Message: "holds no objects; when it is the output of a command such as `helm template`, " +
			"that command may have failed (use `set -o pipefail`)"}
		if opts.FailOnEmpty {
			e.Message += "; it is an error with --fail-on-empty"
			send(&piece{errors: []InputError{e}})
		} else {
			e.Message += "; --fail-on-empty makes this an error"
			send(&piece{warnings: []InputError{e}})
		}
	}
}

// writeText writes a document as read, without a byte order mark: kubectl reads one only at the
// very start of a stream, and the document now follows a ---.
func writeText(w *bytes.Buffer, text []byte) {
	text = bytes.TrimPrefix(text, []byte("\ufeff"))
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

// unjudged returns the identity of a document that is certainly well-formed (stream.Plain) and
// of a kind Stowage does not judge, read without parsing it, or nil when the document must be
// parsed. About half of a chart's bytes are such documents (ConfigMaps, Services, RBAC), and
// parsing them was a quarter of a check's time. index numbers the document in its source; read
// is what the first pass read of it with quickMeta, if anything (its Kind is then set).
func unjudged(source string, c stream.Chunk, index int, read meta) *stream.Document {
	if !readUnjudgedLazily {
		return nil
	}
	m, ok := read, read.Kind != ""
	if !ok {
		m, ok = quickMeta(c.Text)
	}
	if !ok || evaluated(m.APIVersion, m.Kind) || !stream.Plain(c.Text) {
		return nil
	}
	return &stream.Document{Source: source, Line: c.Line + m.Line, Index: index, Item: -1,
		APIVersion: m.APIVersion, Kind: m.Kind, Namespace: m.Namespace, Name: m.Name}
}

// readUnjudgedLazily lets tests compare runs that parse every document.
var readUnjudgedLazily = true

// readChunk is how a document is parsed: by stream.ReadChunkToJudge, which is faster but keeps no
// comments, unless the tree is to be patched and written back (--fix, --diff).
func readChunk(readOnly bool) func(string, stream.Chunk, *int, func(*stream.Document) error) ([]error, bool) {
	if readOnly && readPlainTrees {
		return stream.ReadChunkToJudge
	}
	return stream.ReadChunk
}

// readPlainTrees lets tests compare runs that parse every document with go-yaml.
var readPlainTrees = true

// evaluated reports whether evaluateDocument decodes and judges objects of a kind; of the others
// it only reads the apiVersion.
func evaluated(apiVersion, kind string) bool {
	return kind == "StatefulSet" || kind == "PersistentVolumeClaim" || operatorcr.Lookup(apiVersion, kind) != nil
}

// evaluateDocument evaluates one object if it is a StatefulSet or PersistentVolumeClaim, and
// returns its result and the objects Stowage would create for it. An obsolete apiVersion is an
// input error for any kind.
func evaluateDocument(d *stream.Document, opts *Options, facts *clusterFacts) (*Result, []any, []InputError, []InputError) {
	if msg := obsoleteAPI(d.APIVersion, d.Kind, d.Ref()); msg != "" {
		return nil, nil, []InputError{{Source: d.Source, Line: d.Line, Message: msg}}, nil
	}
	var obj object
	switch {
	case d.Kind == "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case d.Kind == "PersistentVolumeClaim":
		obj = &corev1.PersistentVolumeClaim{}
	default:
		if k := operatorcr.Lookup(d.APIVersion, d.Kind); k != nil {
			return evaluateCustomResource(d, k, opts, facts)
		}
		return nil, nil, nil, nil // other kinds pass through untouched
	}
	var errs, warns []InputError
	fieldErrs, err := stream.Decode(d, obj)
	if err != nil {
		return nil, nil, []InputError{inputError(d, err)}, nil
	}
	for _, fe := range fieldErrs {
		e := InputError{Source: d.Source, Line: fe.Line, Message: fmt.Sprintf("%s %s: %s", d.Kind, d.Ref(), fe.Message)}
		if fe.Warning {
			warns = append(warns, e)
		} else {
			errs = append(errs, e)
		}
	}
	res := newResult(d, cmp.Or(obj.GetNamespace(), facts.defaultNamespace))
	out, err := decide(obj, res, opts, facts)
	if err != nil {
		return nil, nil, append(errs, InputError{Source: d.Source, Line: d.Line, Message: err.Error()}), warns
	}
	if out == nil {
		return res, nil, errs, warns
	}
	for _, v := range out.Violations {
		path := v.Field.String()
		res.Violations = append(res.Violations, Violation{Rule: v.Rule, Field: path, Message: v.Message,
			Severity: v.Severity, Line: stream.LineOf(d.Node, path)})
	}
	if out.Patch != nil {
		res.Patch = out.Patch
	}
	var gen []any
	if sts, ok := obj.(*appsv1.StatefulSet); ok {
		gen = generateBudget(d, res, sts, out.PDB, facts)
	}
	return res, gen, errs, warns
}

// inputError is err about d, at the line err points at or else at d's first line.
func inputError(d *stream.Document, err error) InputError {
	line := stream.ErrorLine(err)
	if line == 0 {
		line = d.Line
	}
	return InputError{Source: d.Source, Line: line, Message: fmt.Sprintf("%s %s: %v", d.Kind, d.Ref(), err)}
}

// newResult starts the result of a document whose objects go to namespace ns.
func newResult(d *stream.Document, ns string) *Result {
	return &Result{Source: d.Source, Line: d.Line, APIVersion: d.APIVersion, Kind: d.Kind, Namespace: ns, Name: d.Name,
		Violations: []Violation{}, Patch: []jsonpatch.Operation{}, Generated: []any{}}
}

// decide runs the policies on obj as a CREATE in its namespace (the default one when it names
// none) with the offline facts, and records in res the policy and the exemption, or why no
// policy applies (out is then nil).
func decide(obj object, res *Result, opts *Options, facts *clusterFacts) (out *policy.Result, err error) {
	if obj.GetNamespace() == "" {
		obj.SetNamespace(facts.defaultNamespace)
	}
	ns := obj.GetNamespace()
	dec, err := opts.Policies.Decide(policy.Input{
		Operation: policy.Create, Object: obj, NamespaceLabels: facts.namespaceLabels(ns),
		Facts: func() (policy.Facts, error) {
			return policy.Facts{NodesKnown: opts.NodesKnown, Nodes: opts.Nodes, PDBs: facts.budgets[ns]}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if dec.Result == nil {
		res.Skipped = string(dec.Skip)
		return nil, nil
	}
	if dec.Policy != nil {
		res.Policy = dec.Policy.Name
	}
	res.Exempt = res.Exempt || dec.Result.Exempt
	return dec.Result, nil
}

// generateBudget adds to res, and returns, the budget Stowage would create for sts, unless the
// input already has it in place.
func generateBudget(d *stream.Document, res *Result, sts *appsv1.StatefulSet, pdb *policyv1.PodDisruptionBudget, facts *clusterFacts) []any {
	if pdb == nil || facts.budgetInPlace(sts, pdb.Name) {
		return nil
	}
	if d.Namespace == "" {
		pdb.Namespace = "" // keep the input's convention: no namespace when it names none
	}
	g := manifest(pdb)
	res.Generated = append(res.Generated, g)
	return []any{g}
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
