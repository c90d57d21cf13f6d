package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MaxDocumentBytes caps one YAML document. Kubernetes itself refuses objects over about 1.5 MiB
// (etcd's request limit), so a larger document is certainly not a valid object.
const MaxDocumentBytes = 8 << 20

// Document is one object from a stream: a YAML document, or one item of a `kind: List`.
type Document struct {
	// Source names the input: a file path, or "-" for standard input.
	Source string
	// Line is the 1-based line in Source where the object starts: its first key, or its { in
	// flow style and JSON.
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
	// ReadChunkToJudge leaves comments out of it.
	Root *yaml.Node

	APIVersion, Kind, Namespace, Name string

	// textLine is the line of Raw's first line.
	textLine int
	// list, for the items of a List, holds the List's JSON form, converted once for all items.
	list *listJSON
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
// A marker is only recognised at column 0, where the YAML spec says it ends any block scalar,
// optionally after a byte order mark (as `cat` of files saved with one produces). Lines end at
// LF, CRLF or a lone CR, as in YAML.
func Split(data []byte) []Chunk {
	var chunks []Chunk
	start, startLine, line := 0, 1, 1
	flush := func(end int) {
		if end > start {
			chunks = append(chunks, Chunk{Line: startLine, Text: data[start:end]})
		}
	}
	cr := bytes.IndexByte(data, '\r') >= 0 // else lines end at LF alone, found faster
	for pos := 0; pos < len(data); {
		next := len(data)
		end := -1
		if cr {
			end = bytes.IndexAny(data[pos:], "\r\n")
		} else {
			end = bytes.IndexByte(data[pos:], '\n')
		}
		if end >= 0 {
			next = pos + end + 1
			if data[next-1] == '\r' && next < len(data) && data[next] == '\n' {
				next++
			}
		}
		l := bytes.TrimPrefix(data[pos:next], bom)
		if isMarker(l, "---") {
			flush(pos)
			// Content after "--- " on the marker line belongs to the next document.
			rest := bytes.TrimLeft(l[3:], " \t")
			if len(bytes.TrimSpace(rest)) > 0 && rest[0] != '#' {
				start, startLine = next-len(rest), line
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

// bom is the UTF-8 byte order mark.
var bom = []byte("\ufeff")

// isMarker reports whether a line is the marker m: "---", which content may follow, or "...",
// which only a comment may follow.
func isMarker(l []byte, m string) bool {
	if !bytes.HasPrefix(l, []byte(m)) {
		return false
	}
	rest := l[len(m):]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' && rest[0] != '\r' {
		return false
	}
	if m == "..." {
		rest = bytes.TrimSpace(rest)
		return len(rest) == 0 || rest[0] == '#'
	}
	return true
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
	if !utf8.Valid(c.Text) {
		off := invalidUTF8(c.Text)
		return []error{&Error{Source: source, Line: c.Line + lineBreaks(c.Text[:off]), Message: fmt.Sprintf(
			"invalid UTF-8 (byte 0x%02x); save the file as UTF-8", c.Text[off])}}, false
	}
	if onlyDirectives(c.Text) {
		return nil, false // %YAML and %TAG lines before a ---: every document is read as YAML 1.2
	}
	dec := yaml.NewDecoder(bytes.NewReader(c.Text))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, false // nothing but comments
		}
		return []error{yamlError(source, c, err)}, false
	}
	// Split cuts at every marker YAML recognises, so a chunk holds one document; check it anyway,
	// since a second one would otherwise be dropped without a word.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return []error{yamlError(source, c, err)}, false
		}
		return []error{&Error{Source: source, Line: c.Line - 1 + max(extra.Line, 1),
			Message: "invalid YAML: a second document starts here without a --- line at column 0"}}, false
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		return nil, false // empty document: comments only
	}
	shiftLines(&root, c.Line-1)
	return deliver(source, c, &root, index, fn)
}

// ReadChunkToJudge is ReadChunk for a reader that never encodes or patches what it reads: a
// document in the style Plain accepts (nearly every one helm and kubectl write) is parsed by
// PlainTree, several times faster than go-yaml, into the same tree without its comments.
func ReadChunkToJudge(source string, c Chunk, index *int, fn func(*Document) error) (errs []error, stop bool) {
	if root := PlainTree(c.Text, c.Line); root != nil {
		return deliver(source, c, root, index, fn)
	}
	return ReadChunk(source, c, index, fn)
}

// deliver calls fn for the object in a parsed document, or for every item of a List.
func deliver(source string, c Chunk, root *yaml.Node, index *int, fn func(*Document) error) (errs []error, stop bool) {
	body := root.Content[0]
	if body.Kind != yaml.MappingNode {
		return []error{&Error{Source: source, Line: body.Line,
			Message: fmt.Sprintf("document is a %s, not an object; every document must be a mapping with apiVersion and kind", nodeKind(body))}}, false
	}
	doc := &Document{Source: source, Index: *index, Item: -1, Raw: c.Text, Node: body, Root: root, Line: body.Line, textLine: c.Line}
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
	list := &listJSON{}
	for i, it := range items.Content {
		if it.Kind != yaml.MappingNode {
			errs = append(errs, &Error{Source: source, Line: it.Line, Message: fmt.Sprintf("items[%d] of a List must be an object", i)})
			continue
		}
		item := &Document{Source: source, Index: doc.Index, Item: i, Raw: c.Text, Node: it, Root: root, Line: it.Line, textLine: c.Line, list: list}
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

// invalidUTF8 returns the offset of the first byte of data that is not valid UTF-8.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// lines splits text after each line break: LF, CRLF or a lone CR.
func lines(text []byte) [][]byte {
	var out [][]byte
	for len(text) > 0 {
		end := bytes.IndexAny(text, "\r\n")
		if end < 0 {
			return append(out, text)
		}
		end++
		if text[end-1] == '\r' && end < len(text) && text[end] == '\n' {
			end++
		}
		out = append(out, text[:end])
		text = text[end:]
	}
	return out
}

// lineBreaks counts the line breaks (LF, CRLF or CR) in data.
func lineBreaks(data []byte) int {
	n := len(lines(data))
	if n > 0 && bytes.IndexAny(data[len(data)-1:], "\r\n") < 0 {
		n-- // the last line is unterminated
	}
	return n
}

// onlyDirectives reports whether a chunk holds directives (%YAML, %TAG) and nothing else but
// comments and blank lines: the part of a stream before the --- that they belong to.
func onlyDirectives(text []byte) bool {
	found := false
	for _, l := range lines(text) {
		t := bytes.TrimLeft(l, " \t\r\n")
		switch {
		case len(t) == 0 || t[0] == '#':
		case l[0] == '%':
			found = true
		default:
			return false
		}
	}
	return found
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

// Lookup returns the value of key in a mapping node, or nil. It reads the mapping as JSON
// would: keys merged in with << count, and an alias gives the node it points at.
func Lookup(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	_, v := mappingValue(m, key)
	return resolve(v)
}

// resolve follows an alias to the node it points at.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
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

// yamlErrorLine extracts the line from a go-yaml error ("yaml: line 3: ..."), as a line of the
// source given the line the chunk starts at.
func yamlErrorLine(err error, base int) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &line)
	}
	if line == 0 {
		return base
	}
	// go-yaml counts lines from 0 in parser errors, and from 1 in scanner errors.
	for _, p := range yamlParserProblems {
		if strings.HasSuffix(msg, p) {
			line++
			break
		}
	}
	return base - 1 + line
}

// yamlParserProblems are go-yaml's parser errors, the ones whose line it counts from 0.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError reports a go-yaml parse error in a chunk at its line in the source.
func yamlError(source string, c Chunk, err error) *Error {
	// A problem found at the end of the input is reported on the line after it: the next
	// document's marker. Blame the document's last line instead.
	line := min(yamlErrorLine(err, c.Line), c.Line+lineBreaks(bytes.TrimRight(c.Text, " \t\r\n")))
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "yaml: unknown anchor '"); ok {
		// go-yaml gives no line for this one: find the alias.
		name = strings.TrimSuffix(name, "' referenced")
		if i := bytes.Index(c.Text, []byte("*"+name)); i >= 0 {
			line = c.Line + lineBreaks(c.Text[:i])
		}
	}
	hint := ""
	tab := strings.Contains(msg, "tab character")
	if tab || strings.Contains(msg, "cannot start any token") { // a tab where a key should start
		if l, ok := tabLine(c, line); ok && (tab || l == line) {
			line, hint = l, "; YAML indentation must use spaces, so replace the tab with spaces"
		}
	}
	return &Error{Source: source, Line: line, Message: "invalid YAML: " + yamlErrorMessage(err) + hint}
}

// tabLine finds the line whose indentation holds a tab, at or after the line go-yaml blamed
// (it names the line of the enclosing context, not the tab's).
func tabLine(c Chunk, from int) (int, bool) {
	line := c.Line
	for _, l := range lines(c.Text) {
		if line >= from {
			indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
			if bytes.IndexByte(indent, '\t') >= 0 {
				return line, true
			}
		}
		line++
	}
	return from, false
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
