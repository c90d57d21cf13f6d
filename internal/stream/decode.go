package stream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
)

// FieldError is a problem with one field of a decoded object.
type FieldError struct {
	// Line is the line of the field, or of its closest enclosing field present in the input.
	Line int
	// Field is the dotted path, e.g. spec.template.spec.containers[0].imagePullPolicy.
	Field string
	// Message says what is wrong and how to fix it.
	Message string
}

// Decode converts a document to JSON and decodes it into obj the way the API server does:
// case-sensitively, and strictly. Unknown and duplicate fields do not stop the decoding: they are
// returned as FieldErrors with their lines, and obj holds everything else. A value of the wrong
// type is a fatal error, returned with its line.
func Decode(d *Document, obj any) ([]FieldError, error) {
	data, err := ToJSON(make([]byte, 0, 4096), d.Node)
	if err != nil {
		return nil, err
	}
	return DecodeJSON(data, d.Node, obj)
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
			out = append(out, FieldError{Line: node.Line, Message: msg})
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
	var fe *fieldTypeError
	msg := err.Error()
	// sigs.k8s.io/json reports "json: cannot unmarshal string into Go struct field
	// StatefulSet.spec.replicas of type int32".
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		path, typ, _ := strings.Cut(rest, " of type ")
		if dot := strings.IndexByte(path, '.'); dot >= 0 {
			path = path[dot+1:]
		}
		what := strings.TrimPrefix(msg[:i], "json: cannot unmarshal ")
		what = strings.TrimSuffix(strings.TrimSpace(what), " into")
		fe = &fieldTypeError{line: LineOf(node, path), field: path,
			msg: fmt.Sprintf("field %s must be of type %s, not %s", path, typ, what)}
	}
	if fe != nil {
		return fe
	}
	return &fieldTypeError{line: node.Line, msg: strings.TrimPrefix(msg, "json: ")}
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

// LineOf returns the line of the field at a dotted path (as field.Path prints it, e.g.
// spec.template.spec.nodeSelector[kubernetes.io/hostname] or spec.containers[0].name) under
// node, or the line of the deepest enclosing field present.
func LineOf(node *yaml.Node, path string) int {
	line := node.Line
	cur := node
	for _, seg := range splitPath(path) {
		for cur.Kind == yaml.AliasNode && cur.Alias != nil {
			cur = cur.Alias
		}
		var next, key *yaml.Node
		switch cur.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == seg {
					key, next = cur.Content[i], cur.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(cur.Content) {
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
	}
	return line
}

// splitPath splits "a.b[c.d][0].e" into a, b, c.d, 0, e.
func splitPath(p string) []string {
	var out []string
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				return append(out, p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}
