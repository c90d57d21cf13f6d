package check

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
)

// clusterFacts are what the inputs say about the cluster: the PodDisruptionBudgets per
// namespace, and the labels of Namespaces defined in the input.
type clusterFacts struct {
	budgets    map[string][]*policyv1.PodDisruptionBudget
	namespaces map[string]map[string]string

	// named records the namespaces that namespaced objects name, with where each is first named.
	named map[string]InputError
	// defaultNamespace is given to objects that name none: -n, or else the one namespace that
	// every object naming one agrees on (inferred is then set).
	defaultNamespace string
	inferred         bool
}

func (f *clusterFacts) namespaceLabels(ns string) map[string]string {
	if l, ok := f.namespaces[ns]; ok {
		return l
	}
	return policy.NamespaceLabels(ns)
}

var (
	kindBudget    = []byte("PodDisruptionBudget")
	kindNamespace = []byte("Namespace")
)

// budgetInPlace reports whether the input already defines the budget Stowage wants: one of that
// name that selects the StatefulSet's pods. A budget of that name that no longer selects them
// (the selector changed since an earlier `--fix`) is stale: it is judged by what it selects,
// never by its name, and the generated one replaces it.
func (f *clusterFacts) budgetInPlace(sts *appsv1.StatefulSet, name string) bool {
	for _, b := range policy.BudgetsSelecting(sts, f.budgets[sts.Namespace]) {
		if b.Name == name {
			return true
		}
	}
	return false
}

// addBudget records a budget. A later definition of the same namespace/name replaces an earlier
// one, as applying both would.
func (f *clusterFacts) addBudget(pdb *policyv1.PodDisruptionBudget) {
	list := f.budgets[pdb.Namespace]
	for i, have := range list {
		if have.Name == pdb.Name {
			list[i] = pdb
			return
		}
	}
	f.budgets[pdb.Namespace] = append(list, pdb)
}

// gatherFacts reads the budgets, the namespaces and the namespaces objects name out of the
// inputs, up to workers inputs at once, and merges what they say in input order. Only documents
// that can hold one of these are parsed, and problems are left for the main pass to report; what
// the main pass needs of a parsed document it does not evaluate is kept in the input
// (input.parsed), so that no document is parsed twice. It also decides the namespace of the
// objects that name none.
func gatherFacts(inputs []*input, flagNamespace string, workers int) *clusterFacts {
	found := make([]*inputFacts, len(inputs))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(max(1, workers), len(inputs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(inputs); i = int(next.Add(1) - 1) {
				found[i] = readFacts(inputs[i])
			}
		})
	}
	wg.Wait()

	f := &clusterFacts{budgets: map[string][]*policyv1.PodDisruptionBudget{}, namespaces: map[string]map[string]string{},
		named: map[string]InputError{}}
	var unnamedBudgets []*policyv1.PodDisruptionBudget
	for _, in := range found {
		for _, n := range in.named {
			if _, seen := f.named[n.namespace]; !seen {
				f.named[n.namespace] = n.at
			}
		}
		for _, pdb := range in.budgets {
			f.addBudget(pdb)
		}
		unnamedBudgets = append(unnamedBudgets, in.unnamedBudgets...)
		for _, ns := range in.namespaces {
			f.namespaces[ns.name] = ns.labels
		}
	}
	f.defaultNamespace = flagNamespace
	if flagNamespace == "" && len(f.named) == 1 {
		for ns := range f.named {
			f.defaultNamespace, f.inferred = ns, true
		}
	}
	for _, pdb := range unnamedBudgets {
		pdb.Namespace = f.defaultNamespace
		f.addBudget(pdb)
	}
	return f
}

// inputFacts is what one input says about the cluster, in its order.
type inputFacts struct {
	// named lists the namespaces that namespaced objects name, each with where it is first named.
	named          []namedAt
	seen           map[string]bool
	budgets        []*policyv1.PodDisruptionBudget
	unnamedBudgets []*policyv1.PodDisruptionBudget
	namespaces     []namespaceLabels
}

type namedAt struct {
	namespace string
	at        InputError
}

type namespaceLabels struct {
	name   string
	labels map[string]string
}

func (f *inputFacts) name(namespace string, at InputError) {
	if f.seen[namespace] {
		return
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.seen[namespace] = true
	f.named = append(f.named, namedAt{namespace, at})
}

// readFacts reads what one input says about the cluster (see gatherFacts).
func readFacts(in *input) *inputFacts {
	f := &inputFacts{}
	data := in.data
	if !mayMatter(data) {
		return f
	}
	index := 0
	for i, c := range stream.Split(data) {
		if !mayMatter(c.Text) {
			continue
		}
		if !bytes.Contains(c.Text, kindBudget) && !bytes.Contains(c.Text, kindNamespace) {
			// Only the namespace is wanted: read it without parsing, when the document allows.
			if m, ok := quickMeta(c.Text); ok {
				if in.metas == nil {
					in.metas = map[int]meta{}
				}
				in.metas[i] = m
				if m.Namespace != "" && !clusterScoped[m.Kind] {
					f.name(m.Namespace, InputError{Source: in.name, Line: c.Line + m.Line, Message: m.Kind + " " + m.Namespace + "/" + m.Name})
				}
				continue
			}
		}
		rec := &parsedChunk{reusable: true}
		before := index
		// Only identities are kept of what this pass reads, never a tree to patch.
		rec.errs, _ = readChunk(true)(in.name, c, &index, func(d *stream.Document) error {
			rec.add(d)
			if d.Namespace != "" && !clusterScoped[d.Kind] {
				f.name(d.Namespace, InputError{Source: d.Source, Line: d.Line, Message: d.Kind + " " + d.Ref()})
			}
			switch {
			case d.Kind == "PodDisruptionBudget" && d.APIVersion == "policy/v1":
				pdb := &policyv1.PodDisruptionBudget{}
				if _, err := stream.Decode(d, pdb); err == nil {
					if pdb.Namespace == "" {
						f.unnamedBudgets = append(f.unnamedBudgets, pdb)
					} else {
						f.budgets = append(f.budgets, pdb)
					}
				}
			case d.Kind == "Namespace" && d.APIVersion == "v1":
				ns := &corev1.Namespace{}
				if _, err := stream.Decode(d, ns); err == nil && ns.Name != "" {
					f.namespaces = append(f.namespaces, namespaceLabels{ns.Name, policy.NamespaceLabelsOf(ns)})
				}
			}
			return nil
		})
		if rec.reusable && reuseFirstPass {
			rec.documents = index - before
			if in.parsed == nil {
				in.parsed = map[int]*parsedChunk{}
			}
			in.parsed[i] = rec
		}
	}
	return f
}

// parsedChunk is what the first pass found in a document it parsed in full (a budget, a
// Namespace), kept for the second pass when that pass would only need the objects' identities:
// then each document is parsed once. Only the identities are kept, not the trees.
type parsedChunk struct {
	objects []*stream.Document
	errs    []error
	// documents is how many documents ReadChunk counted.
	documents int
	// reusable is false once an object the second pass evaluates, or a List item, is seen.
	reusable bool
}

// reuseFirstPass lets tests compare runs that parse the first pass's documents again.
var reuseFirstPass = true

func (r *parsedChunk) add(d *stream.Document) {
	if d.Item >= 0 || evaluated(d.APIVersion, d.Kind) {
		r.reusable = false
	}
	if r.reusable {
		r.objects = append(r.objects, &stream.Document{Source: d.Source, Line: d.Line, Index: d.Index, Item: d.Item,
			APIVersion: d.APIVersion, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name})
	}
}

var wordNamespace = []byte("namespace")

// mayMatter reports whether text may hold a budget, a Namespace or a namespaced object that
// names its namespace. A backslash may spell any of them in a double-quoted key.
func mayMatter(text []byte) bool {
	return bytes.Contains(text, kindBudget) || bytes.Contains(text, kindNamespace) ||
		bytes.Contains(text, wordNamespace) || bytes.IndexByte(text, '\\') >= 0
}

// namespaceWarnings says which namespace objects naming none were given, when the input does not
// make it plain: unnamed counts them, and first is where the first is.
func (f *clusterFacts) namespaceWarnings(flagNamespace string, unnamed int, first InputError) []InputError {
	var out []InputError
	names := make([]string, 0, len(f.named))
	for ns := range f.named {
		names = append(names, ns)
	}
	slices.Sort(names)
	if flagNamespace != "" {
		for _, ns := range names {
			if ns != flagNamespace {
				at := f.named[ns]
				out = append(out, InputError{Source: at.Source, Line: at.Line, Message: fmt.Sprintf(
					"%s names namespace %s, but -n is %s: `kubectl apply -n %s` refuses an object of another namespace; it is checked in %s",
					at.Message, ns, flagNamespace, flagNamespace, ns)})
			}
		}
		return out
	}
	if unnamed == 0 || len(names) == 0 {
		return nil
	}
	if f.inferred {
		at := f.named[f.defaultNamespace]
		return []InputError{{Source: first.Source, Line: first.Line, Message: fmt.Sprintf(
			"%d object(s), the first %s, name no namespace, while the others name %s (first %s at %s:%d): they are checked as in %s, "+
				"where they land with `kubectl apply -n %s` or `helm install -n %s`; pass -n %s to say so, or set metadata.namespace",
			unnamed, first.Message, f.defaultNamespace, at.Message, at.Source, at.Line, f.defaultNamespace,
			f.defaultNamespace, f.defaultNamespace, f.defaultNamespace)}}
	}
	return []InputError{{Source: first.Source, Line: first.Line, Message: fmt.Sprintf(
		"%d object(s), the first %s, name no namespace, while the others name several (%s): they are checked as in no namespace of these, "+
			"and budgets match them only when they name none either; pass -n with the namespace they are applied to",
		unnamed, first.Message, strings.Join(names, ", "))}}
}
