package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/stowage-dev/stowage/policy"
)

// sink writes a report as results arrive.
type sink interface {
	result(*Result)
	inputError(*InputError)
	inputWarning(*InputError)
	diff([]byte)
	finish(*Summary) error
}

func newSink(format string, w io.Writer, version string) (sink, error) {
	switch format {
	case "", OutputText:
		return &textSink{w: bufio.NewWriter(w)}, nil
	case OutputJSON:
		return &jsonSink{w: bufio.NewWriter(w)}, nil
	case OutputSARIF:
		return &sarifSink{w: w, version: version}, nil
	case OutputJUnit:
		return &junitSink{w: w}, nil
	}
	return nil, fmt.Errorf("unknown output format %q: use %s", format, strings.Join(Formats, ", "))
}

// textSink prints one line per finding, as compilers do: source:line: what.
type textSink struct {
	w     *bufio.Writer
	diffs [][]byte
}

func (s *textSink) result(r *Result) {
	ref := r.Name
	if r.Namespace != "" {
		ref = r.Namespace + "/" + r.Name
	}
	if r.Skipped == string(policy.SkipSystemNamespace) {
		fmt.Fprintf(s.w, "%s:%d: skipped: %s %s: namespace %s belongs to the control plane, which Stowage never admits\n", r.Source, r.Line, r.Kind, ref, r.Namespace)
		return
	}
	if r.Policy == "" {
		return
	}
	if r.Exempt {
		fmt.Fprintf(s.w, "%s:%d: exempt: %s %s: opted out with stowage.dev/opt-out in a namespace policy %s allows\n", r.Source, r.Line, r.Kind, ref, r.Policy)
		return
	}
	for _, v := range r.Violations {
		fmt.Fprintf(s.w, "%s:%d: %s: %s %s: %s: %s: %s\n", r.Source, v.Line, v.Severity, r.Kind, ref, v.Rule, v.Field, v.Message)
	}
	for _, op := range r.Patch {
		fmt.Fprintf(s.w, "%s:%d: change: %s %s: %s %s\n", r.Source, r.Line, r.Kind, ref, op.Operation, FieldPath(op.Path))
	}
	for _, g := range r.Generated {
		kind, name := generatedName(g)
		fmt.Fprintf(s.w, "%s:%d: generate: %s %s: %s %s (no budget in the input selects its pods)\n", r.Source, r.Line, r.Kind, ref, kind, name)
	}
}

func (s *textSink) inputError(e *InputError) {
	if e.Line > 0 {
		fmt.Fprintf(s.w, "%s:%d: input error: %s\n", e.Source, e.Line, e.Message)
	} else {
		fmt.Fprintf(s.w, "%s: input error: %s\n", e.Source, e.Message)
	}
}

func (s *textSink) inputWarning(e *InputError) {
	if e.Line > 0 {
		fmt.Fprintf(s.w, "%s:%d: input warning: %s\n", e.Source, e.Line, e.Message)
	} else {
		fmt.Fprintf(s.w, "%s: input warning: %s\n", e.Source, e.Message)
	}
}

func (s *textSink) diff(d []byte) { s.diffs = append(s.diffs, d) }

func (s *textSink) finish(sum *Summary) error {
	for _, d := range s.diffs {
		s.w.Write(d)
	}
	warnings := ""
	if sum.InputWarnings > 0 {
		warnings = fmt.Sprintf(", %d input warning(s)", sum.InputWarnings)
	}
	fmt.Fprintf(s.w, "stowage check: %d file(s), %d object(s), %d evaluated: %d to change, %d to generate; %d error(s), %d warning(s), %d input error(s)%s; exit %d\n",
		sum.Files, sum.Objects, sum.Evaluated, sum.Changed, sum.Generated, sum.Errors, sum.Warnings, sum.InputErrors, warnings, sum.ExitCode)
	return s.w.Flush()
}

// FieldPath turns a JSON pointer into the dotted form Kubernetes uses for field paths:
// /spec/volumeClaimTemplates/0/spec → spec.volumeClaimTemplates[0].spec.
func FieldPath(pointer string) string {
	var b strings.Builder
	for i, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		switch {
		case isIndex(seg):
			b.WriteString("[" + seg + "]")
		case strings.ContainsAny(seg, "./"):
			b.WriteString("[" + seg + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jsonSink streams the results array, then writes the errors and the summary.
type jsonSink struct {
	w        *bufio.Writer
	n        int
	errors   []InputError
	warnings []InputError
	diffs    []string
}

func (s *jsonSink) result(r *Result) {
	if s.n == 0 {
		s.w.WriteString("{\"results\":[\n")
	} else {
		s.w.WriteString(",\n")
	}
	s.n++
	s.w.Write(marshal(r))
}

func (s *jsonSink) inputError(e *InputError) { s.errors = append(s.errors, *e) }

func (s *jsonSink) inputWarning(e *InputError) { s.warnings = append(s.warnings, *e) }

func (s *jsonSink) diff(d []byte) { s.diffs = append(s.diffs, string(d)) }

func (s *jsonSink) finish(sum *Summary) error {
	if s.n == 0 {
		s.w.WriteString("{\"results\":[")
	} else {
		s.w.WriteString("\n")
	}
	if s.errors == nil {
		s.errors = []InputError{}
	}
	if s.warnings == nil {
		s.warnings = []InputError{}
	}
	s.w.WriteString("],\"errors\":")
	s.w.Write(marshal(s.errors))
	s.w.WriteString(",\"warnings\":")
	s.w.Write(marshal(s.warnings))
	if s.diffs != nil {
		s.w.WriteString(",\"diffs\":")
		s.w.Write(marshal(s.diffs))
	}
	s.w.WriteString(",\"summary\":")
	s.w.Write(marshal(sum))
	s.w.WriteString("}\n")
	return s.w.Flush()
}

func marshal(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(fmt.Sprintf("{\"error\":%q}", err.Error()))
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

// generatedName returns the kind and name of a generated manifest.
func generatedName(g any) (kind, name string) {
	m, _ := g.(map[string]any)
	kind, _ = m["kind"].(string)
	if meta, ok := m["metadata"].(map[string]any); ok {
		name, _ = meta["name"].(string)
	}
	return kind, name
}
