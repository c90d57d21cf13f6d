package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
	syaml "sigs.k8s.io/yaml"
)

// FieldError is a problem with one field of a decoded object.
type FieldError struct {
	// Line is the line of the field, or of its closest enclosing field present in the input.
	Line int
	// Field is the dotted path, e.g. spec.template.spec.containers[0].imagePullPolicy.
	Field string
	// Message says what is wrong and how to fix it.
	Message string
	// Warning is set for problems that kubectl accepts, such as a key given twice: the object
	// is applied as it is, so it is decoded as it is, and the problem is only worth a word.
	Warning bool
}

// Decode converts a document to JSON and decodes it into obj the way `kubectl apply` and the
// API server do. The values are the ones kubectl reads, with sigs.k8s.io/yaml (YAML 1.1, where
// a plain yes, no, on and off are booleans), never the YAML 1.2 meaning the position-aware tree
// gives them: they are computed from the tree's scalars by go-yaml v2's rules, or, for what the
// tree does not keep, by sigs.k8s.io/yaml from the text (see JSON). The JSON is decoded
// case-sensitively and strictly. Unknown fields do not stop the decoding: they are returned as
// FieldErrors with their lines, and obj holds everything else. A key given twice in the same mapping is decoded as
// kubectl decodes it, the last value winning, and returned as a FieldError with Warning set. A
// value of the wrong type, or YAML that kubectl's decoder rejects, is a fatal error returned with
// its line (see ErrorLine).
func Decode(d *Document, obj any) ([]FieldError, error) {
	data, dups, err := d.JSON()
	if err != nil {
		return nil, err
	}
	out, err := DecodeJSON(data, d.Node, obj)
	if err != nil {
		return nil, err
	}
	return append(dups, out...), nil
}

// JSON returns the object's JSON form as kubectl computes it (sigs.k8s.io/yaml's YAMLToJSON),
// and a warning for every key given twice, whose last value the JSON holds. Most documents are
// not parsed again for it: see kubectlJSON.
func (d *Document) JSON() ([]byte, []FieldError, error) {
	if d.list == nil {
		data, dup, err := kubectlJSON(d.Raw, d.Root, d.textLine)
		if err != nil {
			return nil, nil, d.yamlError(err)
		}
		if dup {
			return data, duplicates(d.Node), nil
		}
		return data, nil, nil
	}
	l := d.list
	if !l.done {
		l.done = true
		data, dup, err := kubectlJSON(d.Raw, d.Root, d.textLine)
		if err != nil {
			l.err = d.yamlError(err)
		} else {
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(data, &list); err != nil {
				l.err = &fieldTypeError{line: d.textLine, msg: "the List cannot be read: " + err.Error()}
			}
			l.items, l.dup = list.Items, dup
		}
	}
	if l.err != nil {
		return nil, nil, l.err
	}
	if d.Item < 0 || d.Item >= len(l.items) {
		return nil, nil, &fieldTypeError{line: d.Line, msg: "the List item cannot be read"}
	}
	if l.dup {
		return l.items[d.Item], duplicates(d.Node), nil
	}
	return l.items[d.Item], nil, nil
}

// guard refuses a document that aliases would blow up (a "billion laughs"), before kubectl's
// decoder expands it: over a million nodes, nesting over 10000 levels or over 64 MiB of JSON.
// A document without an alias (*name) cannot expand, and is not converted twice.
func guard(text []byte, root *yaml.Node) error {
	if bytes.IndexByte(text, '*') < 0 {
		return nil
	}
	c := converter{limit: maxJSONBytes}
	if err := c.node(root, 0); err != nil {
		return &fieldTypeError{line: rootOf(root).Line, msg: err.Error()}
	}
	return nil
}

// listJSON is the JSON form of a List, shared by its items.
type listJSON struct {
	done  bool
	items []json.RawMessage
	dup   bool
	err   error
}

// yamlToJSON converts a document's text as kubectl does. dup reports a key given twice: the
// strict conversion refuses it, and the JSON is then the one kubectl's non-strict decoding
// gives, with the last value.
func yamlToJSON(text []byte) (data []byte, dup bool, err error) {
	data, err = syaml.YAMLToJSONStrict(text)
	if err == nil {
		return data, false, nil
	}
	if !strings.Contains(err.Error(), "already set in map") {
		return nil, false, err
	}
	data, err = syaml.YAMLToJSON(text)
	return data, true, err
}

// yamlError gives an error of kubectl's YAML decoder the line of the source it points at.
func (d *Document) yamlError(err error) error {
	var fe *fieldTypeError
	if errors.As(err, &fe) {
		return err // the alias guard's, with its line
	}
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	line := d.Line
	if strings.Contains(msg, "line ") {
		line = yamlErrorLine(err, d.textLine)
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, "line "); i >= 0 && strings.HasPrefix(msg, "line ") {
		if j := strings.Index(msg, ": "); j > i {
			msg = msg[j+2:]
		}
	}
	return &fieldTypeError{line: line, msg: "kubectl cannot read this document: " + msg}
}

// duplicates finds the keys given twice under node, with the lines of both.
func duplicates(node *yaml.Node) []FieldError {
	var dups []FieldError
	c := converter{buf: make([]byte, 0, 4096), limit: maxJSONBytes, dups: &dups}
	c.node(node, 0) // the JSON is kubectl's; only the repeated keys are wanted
	return dups
}

// DecodeJSON decodes JSON data (the JSON form of node) strictly into obj, reporting positions
// from node.
func DecodeJSON(data []byte, node *yaml.Node, obj any) ([]FieldError, error) {
	strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, typeError(err, node)
	}
	var out []FieldError
	for _, e := range strict {
		msg := e.Error()
		switch {
		case strings.HasPrefix(msg, "unknown field "):
			path := unquote(strings.TrimPrefix(msg, "unknown field "))
			out = append(out, FieldError{Line: LineOf(node, path), Field: path,
				Message: fmt.Sprintf("unknown field %q; check its spelling and indentation against the API reference (`kubectl explain`)", path)})
		case strings.HasPrefix(msg, "duplicate field "):
			path := unquote(strings.TrimPrefix(msg, "duplicate field "))
			out = append(out, FieldError{Line: LineOf(node, path), Field: path,
				Message: fmt.Sprintf("field %q is set twice; remove one", path)})
		default:
			out = append(out, FieldError{Line: rootOf(node).Line, Message: msg})
		}
	}
	return out, nil
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// typeError turns a JSON type error into one with a field path and a line.
func typeError(err error, node *yaml.Node) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		typ := "the expected type"
		if te.Type != nil {
			typ = te.Type.String()
		}
		what, _, _ := strings.Cut(te.Value, " ")
		segs := strings.Split(te.Field, ".")
		b := &locator{budget: maxAliasExpansion, want: what}
		if line, path, ok := b.find(rootOf(node), segs, node.Line, ""); ok {
			return &fieldTypeError{line: line, field: path,
				msg: fmt.Sprintf("field %s must be of type %s, not %s", path, typ, what)}
		}
		// Not found (the decoder's path names only struct fields): point at the closest field.
		var kept []string
		for _, s := range segs {
			if !isGoName(s) {
				kept = append(kept, s)
			}
		}
		path := strings.Join(kept, ".")
		return &fieldTypeError{line: LineOf(node, path), field: path,
			msg: fmt.Sprintf("field %s must be of type %s, not %s", path, typ, what)}
	}
	return &fieldTypeError{line: rootOf(node).Line, msg: strings.TrimPrefix(err.Error(), "json: ")}
}

// isGoName reports whether a segment of a decoder's field path is the Go name of an embedded
// struct (TypeMeta, ObjectMeta) rather than a JSON field name, which Kubernetes writes in
// lowerCamelCase.
func isGoName(s string) bool {
	return s != "" && s[0] >= 'A' && s[0] <= 'Z'
}

// locator searches a document for the value a JSON type error is about. The decoder's path has
// no list indices and may name embedded Go structs, so the search tries every list item and
// skips Go names, and accepts the first value of the kind the decoder complained about.
type locator struct {
	budget int
	want   string // the JSON kind of the bad value: string, number, bool, array, object, null
}

func (l *locator) find(n *yaml.Node, segs []string, line int, path string) (int, string, bool) {
	n = resolve(n)
	if l.budget--; l.budget < 0 {
		return 0, "", false
	}
	if len(segs) == 0 {
		if l.want == "" || jsonKind(n) == l.want {
			return line, path, true
		}
		// A map or list of the wrong element type: the error names the map or list itself.
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if v := n.Content[i+1]; jsonKind(v) == l.want {
					return n.Content[i].Line, joinKey(path, n.Content[i].Value), true
				}
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				if jsonKind(v) == l.want {
					return v.Line, path + "[" + strconv.Itoa(i) + "]", true
				}
			}
		}
		return 0, "", false
	}
	switch n.Kind {
	case yaml.MappingNode:
		if k, v := mappingValue(n, segs[0]); v != nil {
			if line, p, ok := l.find(v, segs[1:], k.Line, joinKey(path, segs[0])); ok {
				return line, p, true
			}
		}
		if isGoName(segs[0]) {
			return l.find(n, segs[1:], line, path)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			if line, p, ok := l.find(it, segs, it.Line, path+"["+strconv.Itoa(i)+"]"); ok {
				return line, p, true
			}
		}
	}
	return 0, "", false
}

// jsonKind is the JSON kind of a node's value, as encoding/json names it in type errors.
func jsonKind(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "array"
	case yaml.ScalarNode:
		if n.Style == 0 && isCoreTag(n.ShortTag()) {
			// A plain scalar: resolve it as kubectl does, by YAML 1.1 (yes is a bool there).
			if j, err := syaml.YAMLToJSON([]byte(n.Value)); err == nil && len(j) > 0 {
				switch j[0] {
				case 'n':
					return "null"
				case 't', 'f':
					return "bool"
				case '"':
					return "string"
				case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
					return "number"
				}
			}
		}
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "bool"
		case "!!int", "!!float":
			return "number"
		}
		return "string"
	}
	return ""
}

// isCoreTag reports whether a tag is one a plain scalar resolves to by itself.
func isCoreTag(tag string) bool {
	switch tag {
	case "!!null", "!!bool", "!!int", "!!float", "!!str", "!!timestamp":
		return true
	}
	return false
}

func joinKey(path, key string) string {
	var b strings.Builder
	b.WriteString(path)
	appendKey(&b, key)
	return b.String()
}

type fieldTypeError struct {
	line  int
	field string
	msg   string
}

func (e *fieldTypeError) Error() string { return e.msg }

// ErrorLine returns the line an error from Decode points at, or 0.
func ErrorLine(err error) int {
	var fe *fieldTypeError
	if errors.As(err, &fe) {
		return fe.line
	}
	return 0
}

// rootOf returns the object under a document node, or n itself.
func rootOf(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// mappingValue returns the key and value nodes of key in a mapping, looking through merge keys
// (<<) as YAML specifies: explicit keys first, then the merged mappings in order.
func mappingValue(m *yaml.Node, key string) (k, v *yaml.Node) {
	return lookup(m, key, nil)
}

// lookup is mappingValue with the mappings already searched: each merged mapping is searched
// once, so that neither a merge cycle nor mappings merged many times over can make the search
// explode. seen is made on the first merge.
func lookup(m *yaml.Node, key string, seen map[*yaml.Node]bool) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) && m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	for _, src := range merges(m) {
		if src.Kind != yaml.MappingNode || seen[src] {
			continue
		}
		if seen == nil {
			seen = map[*yaml.Node]bool{m: true}
		}
		seen[src] = true
		if k, v := lookup(src, key, seen); v != nil {
			return k, v
		}
	}
	return nil, nil
}

// LineOf returns the line of the field at a dotted path (as field.Path prints it, e.g.
// spec.template.spec.nodeSelector[kubernetes.io/hostname] or spec.containers[0].name) under
// node, or the line of the deepest enclosing field present. Keys merged in through << are found
// too, and so are keys with dots written in the dotted form (metadata.labels.app.kubernetes.io/name,
// as the JSON decoder prints them).
func LineOf(node *yaml.Node, path string) int {
	cur := rootOf(node)
	line := cur.Line
	segs := splitPath(path)
	for len(segs) > 0 {
		cur = resolve(cur)
		var next, key *yaml.Node
		used := 1
		switch cur.Kind {
		case yaml.MappingNode:
			name := segs[0].name
			key, next = mappingValue(cur, name)
			// A dotted path cannot tell a key with dots from nested keys: try the longer keys.
			for j := 1; next == nil && j < len(segs) && !segs[j].bracket; j++ {
				name += "." + segs[j].name
				if key, next = mappingValue(cur, name); next != nil {
					used = j + 1
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(segs[0].name); err == nil && i >= 0 && i < len(cur.Content) {
				next = cur.Content[i]
			}
		}
		if next == nil {
			return line
		}
		if key != nil {
			line = key.Line
		} else {
			line = next.Line
		}
		cur = next
		segs = segs[used:]
	}
	return line
}

// pathSeg is one segment of a dotted path; bracket is set for one written as [name].
type pathSeg struct {
	name    string
	bracket bool
}

// splitPath splits "a.b[c.d][0].e" into a, b, [c.d], [0], e.
func splitPath(p string) []pathSeg {
	var out []pathSeg
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, pathSeg{name: p[1:], bracket: true})
			}
			out = append(out, pathSeg{name: p[1:end], bracket: true})
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				return append(out, pathSeg{name: p})
			}
			out = append(out, pathSeg{name: p[:end]})
			p = p[end:]
		}
	}
	return out
}
