package stream

import (
	"bytes"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// MaxDocumentBytes caps one YAML document. Kubernetes itself refuses objects over about 1.5 MiB
// (etcd's request limit), so a larger document is certainly not a valid object.
const MaxDocumentBytes = 8 << 20

// Document is one object from a stream: a YAML document, or one item of a `kind: List`.
type Document struct {
	// Source names the input: a file path, or "-" for standard input.
	Source string
	// Line is the 1-based line of the object's first key in Source.
	Line int
	// Index counts the documents of Source from 0, in order, empty ones excluded.
	Index int
	// Item is the index within a `kind: List` document, or -1 for a top-level document.
	Item int
	// Raw is the document's text as read, without the `---` separator. For a list item it is
	// the text of the whole List document.
	Raw []byte
	// Node is the object's mapping node. For a list item it points into the List document's
	// tree, so patching an item patches the List.
	Node *yaml.Node
	// Root is the document node that holds Node (the List's, for list items).
	Root *yaml.Node

	APIVersion, Kind, Namespace, Name string
}

// Ref returns "namespace/name", or "name" for cluster-scoped or unnamespaced objects.
func (d *Document) Ref() string {
	if d.Namespace == "" {
		return d.Name
	}
	return d.Namespace + "/" + d.Name
}

// Error is a problem with the input at a position.
type Error struct {
	Source  string
	Line    int
	Message string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Source, e.Message)
}

// Chunk is one document's text and where it starts.
type Chunk struct {
	// Line is the 1-based line of Text's first line.
	Line int
	// Text is the document without its `---` marker line.
	Text []byte
}

// Split cuts a YAML stream into documents at `---` marker lines (and `...` end markers),
// without parsing it, so that a broken document cannot take the rest of the stream down with it.
// A marker is only recognised at column 0, where the YAML spec says it ends any block scalar.
func Split(data []byte) []Chunk {
	var chunks []Chunk
	start, startLine, line := 0, 1, 1
	flush := func(end int) {
		if end > start {
			chunks = append(chunks, Chunk{Line: startLine, Text: data[start:end]})
		}
	}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		l := data[pos:next]
		if isMarker(l, "---") {
			flush(pos)
			// Content after "--- " on the marker line belongs to the next document.
			rest := bytes.TrimLeft(l[3:], " \t")
			if len(bytes.TrimSpace(rest)) > 0 && rest[0] != '#' {
				start, startLine = pos+len(l)-len(rest), line
			} else {
				start, startLine = next, line+1
			}
		} else if isMarker(l, "...") {
			flush(pos)
			start, startLine = next, line+1
		}
		pos = next
		line++
	}
	flush(len(data))
	return chunks
}

func isMarker(l []byte, m string) bool {
	if !bytes.HasPrefix(l, []byte(m)) {
		return false
	}
	rest := l[len(m):]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

// Read parses a stream and calls fn for every object in it, in order. Problems with a document
// are returned as *Error values naming the source and line; the other documents are still read.
// An error returned by fn stops the stream and is returned last.
func Read(source string, data []byte, fn func(*Document) error) []error {
	var errs []error
	index := 0
	for _, c := range Split(data) {
		e, stop := ReadChunk(source, c, &index, fn)
		errs = append(errs, e...)
		if stop {
			break
		}
	}
	return errs
}

// ReadChunk parses one document from Split and calls fn for the object in it, or for every item
// of a List. index numbers the documents of the source and is advanced past this one. stop is
// true when fn returned an error, which is then the last of errs.
func ReadChunk(source string, c Chunk, index *int, fn func(*Document) error) (errs []error, stop bool) {
	if len(c.Text) > MaxDocumentBytes {
		return []error{&Error{Source: source, Line: c.Line, Message: fmt.Sprintf(
			"document is %d bytes, over the %d-byte limit; no Kubernetes object is that large, so split the input", len(c.Text), MaxDocumentBytes)}}, false
	}
	var root yaml.Node
	if err := yaml.Unmarshal(c.Text, &root); err != nil {
		line := yamlErrorLine(err, c.Line)
		if strings.Contains(err.Error(), "tab character") {
			line = tabLine(c, line)
		}
		return []error{&Error{Source: source, Line: line, Message: "invalid YAML: " + yamlErrorMessage(err) + tabHint(err)}}, false
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		return nil, false // empty document: comments only
	}
	body := root.Content[0]
	shiftLines(&root, c.Line-1)
	if body.Kind != yaml.MappingNode {
		return []error{&Error{Source: source, Line: body.Line,
			Message: fmt.Sprintf("document is a %s, not an object; every document must be a mapping with apiVersion and kind", nodeKind(body))}}, false
	}
	doc := &Document{Source: source, Index: *index, Item: -1, Raw: c.Text, Node: body, Root: &root, Line: body.Line}
	*index++
	if err := describe(doc); err != nil {
		return []error{err}, false
	}
	if !strings.HasSuffix(doc.Kind, "List") || Lookup(body, "items") == nil {
		if err := fn(doc); err != nil {
			return []error{err}, true
		}
		return nil, false
	}
	items := Lookup(body, "items")
	if items.Kind == yaml.ScalarNode && items.Tag == "!!null" {
		return nil, false
	}
	if items.Kind != yaml.SequenceNode {
		return []error{&Error{Source: source, Line: items.Line, Message: "items of a List must be a sequence of objects"}}, false
	}
	for i, it := range items.Content {
		if it.Kind != yaml.MappingNode {
			errs = append(errs, &Error{Source: source, Line: it.Line, Message: fmt.Sprintf("items[%d] of a List must be an object", i)})
			continue
		}
		item := &Document{Source: source, Index: doc.Index, Item: i, Raw: c.Text, Node: it, Root: &root, Line: it.Line}
		if err := describe(item); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := fn(item); err != nil {
			return append(errs, err), true
		}
	}
	return errs, false
}

// describe fills in the identifying fields from the mapping.
func describe(d *Document) *Error {
	str := func(n *yaml.Node) string {
		if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			return n.Value
		}
		return ""
	}
	d.APIVersion = str(Lookup(d.Node, "apiVersion"))
	d.Kind = str(Lookup(d.Node, "kind"))
	if meta := Lookup(d.Node, "metadata"); meta != nil && meta.Kind == yaml.MappingNode {
		d.Name = str(Lookup(meta, "name"))
		d.Namespace = str(Lookup(meta, "namespace"))
	}
	switch {
	case d.APIVersion == "" && d.Kind == "":
		return &Error{Source: d.Source, Line: d.Line, Message: "object has no apiVersion and no kind; add both, e.g. apiVersion: apps/v1 and kind: StatefulSet"}
	case d.APIVersion == "":
		return &Error{Source: d.Source, Line: d.Line, Message: fmt.Sprintf("%s has no apiVersion; add it", d.Kind)}
	case d.Kind == "":
		return &Error{Source: d.Source, Line: d.Line, Message: "object has no kind; add it"}
	}
	return nil
}

// Lookup returns the value of key in a mapping node, or nil.
func Lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func shiftLines(n *yaml.Node, by int) {
	if by == 0 || n == nil {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// yamlErrorLine extracts the line from a go-yaml error ("yaml: line 3: ...").
func yamlErrorLine(err error, base int) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &line)
	}
	if line == 0 {
		return base
	}
	return base - 1 + line
}

// tabLine finds the line whose indentation holds a tab, at or after the line go-yaml blamed
// (it names the line of the enclosing context, not the tab's).
func tabLine(c Chunk, from int) int {
	line := c.Line
	for _, l := range bytes.SplitAfter(c.Text, []byte("\n")) {
		if line >= from {
			indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
			if bytes.IndexByte(indent, '\t') >= 0 {
				return line
			}
		}
		line++
	}
	return from
}

func tabHint(err error) string {
	if strings.Contains(err.Error(), "tab character") {
		return "; YAML indentation must use spaces, so replace the tab with spaces"
	}
	return ""
}

// yamlErrorMessage removes go-yaml's "yaml: line N:" prefix, since the position is reported
// separately.
func yamlErrorMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	if strings.HasPrefix(msg, "unmarshal errors:") {
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "unmarshal errors:"))
	}
	return msg
}
