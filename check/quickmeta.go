package check

import (
	"bytes"
	"strings"
)

// quickMeta reads the apiVersion, kind and metadata.namespace of a document without parsing it,
// for the first pass, which needs only these of most documents. It handles only the plain block
// style that `helm template` and `kustomize build` print, and returns ok=false for anything else
// (JSON, Lists, anchors and aliases or tags on these fields, quoted keys, escapes, values that
// may span lines, tabs, CRs), which the caller then parses in full. When ok and the document
// parses, the values are the ones the full parse gives (FuzzQuickMeta checks it).
func quickMeta(text []byte) (m meta, ok bool) {
	m.APIVersion, m.Kind, m.Namespace, m.Name, m.Line, ok = quickMetaFields(text)
	return m, ok
}

// meta is what quickMeta reads: Line counts from 0, the first line of the text.
type meta struct {
	APIVersion, Kind, Namespace, Name string
	Line                              int
}

func quickMetaFields(text []byte) (apiVersion, kind, namespace, name string, first int, ok bool) {
	first = -1
	text = bytes.TrimPrefix(text, []byte("\ufeff"))
	if bytes.IndexByte(text, '\r') >= 0 || bytes.IndexByte(text, '\t') >= 0 {
		return "", "", "", "", 0, false
	}
	metaSeen, inMeta, childIndent := false, false, 0
	var haveAPI, haveKind, haveNS, haveName bool
	for i, rest := 0, text; len(rest) > 0 || i == 0; i++ {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		t := bytes.TrimLeft(l, " ")
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		indent := len(l) - len(t)
		if first < 0 {
			first = i
		}
		if indent > 0 && !inMeta {
			continue
		}
		if indent == 0 {
			inMeta = false
		} else {
			if childIndent == 0 {
				childIndent = indent
			}
			if indent < childIndent {
				return "", "", "", "", 0, false
			}
			if indent > childIndent {
				continue
			}
		}
		key, value, isKey := splitKey(t)
		if !isKey || !oneLine(value) {
			return "", "", "", "", 0, false // a list, JSON, a directive, a complex key; or a value that may go on
		}
		var target *string
		var seen *bool
		switch {
		case indent == 0 && key == "apiVersion":
			target, seen = &apiVersion, &haveAPI
		case indent == 0 && key == "kind":
			target, seen = &kind, &haveKind
		case indent > 0 && key == "namespace":
			target, seen = &namespace, &haveNS
		case indent > 0 && key == "name":
			target, seen = &name, &haveName
		case indent == 0 && key == "metadata":
			if metaSeen || len(bytes.TrimSpace(stripComment(value))) != 0 {
				return "", "", "", "", 0, false // flow style, an alias, a tag, or metadata twice
			}
			metaSeen, inMeta, childIndent = true, true, 0
			continue
		case indent == 0 && (key == "items" || key == "<<"):
			return "", "", "", "", 0, false
		case indent > 0 && key == "<<":
			return "", "", "", "", 0, false
		default:
			continue
		}
		if *seen {
			return "", "", "", "", 0, false // repeated
		}
		v, single := scalar(value)
		if !single || continues(rest, indent) {
			return "", "", "", "", 0, false
		}
		*target, *seen = v, true
	}
	if apiVersion == "" || kind == "" || strings.HasSuffix(kind, "List") {
		return "", "", "", "", 0, false
	}
	return apiVersion, kind, namespace, name, first, true
}

// splitKey splits "key: value" or "key:" where key is a plain scalar of letters, digits and
// ".-_/<"; isKey is false for anything else.
func splitKey(t []byte) (key string, value []byte, isKey bool) {
	i := 0
	for i < len(t) {
		c := t[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '/' || c == '<' {
			i++
			continue
		}
		break
	}
	if i == 0 || i >= len(t) || t[i] != ':' || (i+1 < len(t) && t[i+1] != ' ') || t[0] == '-' || t[0] == '.' || t[0] == '<' && string(t[:i]) != "<<" {
		return "", nil, false
	}
	return string(t[:i]), t[i+1:], true
}

// oneLine reports whether a value certainly ends on its line: not a flow collection or a quoted
// string left open, nor a value whose form the simple scan does not know.
func oneLine(value []byte) bool {
	v := bytes.TrimSpace(value)
	if len(v) == 0 || v[0] == '#' || v[0] == '|' || v[0] == '>' {
		return true // nothing, or a block scalar, whose lines are indented deeper
	}
	switch v[0] {
	case '{', '[':
		depth := 0
		for _, c := range v {
			switch c {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"', '\'', '#', '&', '*', '!':
				return false
			}
		}
		return depth == 0 && (v[len(v)-1] == '}' || v[len(v)-1] == ']')
	case '"', '\'':
		_, ok := quoted(v)
		return ok
	}
	return true
}

// quoted reads a one-line quoted scalar without escapes, optionally followed by a comment.
func quoted(v []byte) (string, bool) {
	q := v[0]
	end := bytes.IndexByte(v[1:], q) + 1
	if end <= 0 || q == '"' && bytes.IndexByte(v[1:end], '\\') >= 0 || q == '\'' && end+1 < len(v) && v[end+1] == '\'' {
		return "", false
	}
	rest := v[end+1:]
	if len(rest) > 0 && (rest[0] != ' ' || bytes.TrimSpace(rest)[0] != '#') {
		return "", false
	}
	return string(v[1:end]), true
}

// stripComment removes a trailing " # comment".
func stripComment(v []byte) []byte {
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		return v[:i]
	}
	return v
}

// scalar reads a one-line plain or quoted value, "" for the null ones; single is false for any
// other form.
func scalar(value []byte) (string, bool) {
	v := bytes.TrimSpace(value)
	if len(v) == 0 || v[0] == '#' {
		return "", true
	}
	if v[0] == '"' || v[0] == '\'' {
		return quoted(v)
	}
	v = bytes.TrimSpace(stripComment(v))
	if len(v) == 0 || bytes.ContainsAny(v[:1], "|>{}[],&*!%@`-?:#") || bytes.ContainsAny(v, "#:{}[],'\"") {
		return "", false
	}
	switch string(v) {
	case "~", "null", "Null", "NULL":
		return "", true
	}
	return string(v), true
}

// continues reports whether the value of a key indented by keyIndent may go on after its line:
// the next line of rest that is not blank is indented deeper (comments count, to stay simple).
func continues(rest []byte, keyIndent int) bool {
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		t := bytes.TrimLeft(l, " ")
		if len(t) == 0 {
			continue
		}
		return len(l)-len(t) > keyIndent
	}
	return false
}
