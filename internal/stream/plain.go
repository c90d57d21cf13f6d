package stream

import (
	"bytes"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Plain reports whether one document's text (a chunk of Split) is certainly a well-formed
// mapping in the plain block style that every YAML reader here reads without error: kubectl's
// (go-yaml v2, through sigs.k8s.io/yaml) and Read's (go-yaml v3). A caller that needs no more of
// a document than quickly read identity fields, such as `stowage check` for a kind it does not
// judge, may then skip parsing it: no error it should report can hide in it. False only means
// "not certainly": the document must be parsed, and the parser says what is wrong, if anything.
//
// The style is what helm and kubectl write: a block mapping at column 0; nested block mappings
// and sequences (a sequence may start at its key's column); keys that are plain words or
// simple quoted strings; values that are one-line plain scalars, one-line quoted scalars, the
// empty flow mapping {}, one-line flow sequences of quoted scalars and words, or literal and folded block scalars without an indentation
// indicator; comments and blank lines. Anything else (tabs outside block scalars, anchors,
// aliases, tags, directives, document markers, complex or merge keys, flow collections with
// content, scalars over several lines, control characters) is left to the parser.
// FuzzPlain holds Plain to both parsers.
func Plain(text []byte) bool {
	_, ok := scanPlain(text, false, 1)
	return ok
}

// PlainTree parses a Plain document into the tree go-yaml v3 makes of it, with the same kinds,
// tags, styles, values, lines and columns, but no comments: nil when the text is not Plain.
// line is the line of text's first line. It reads the style Plain accepts several times faster
// than go-yaml, which matters to `stowage check`, whose time goes to parsing the documents it
// judges. The tree is for reading only: encoding it would drop the comments. FuzzPlain holds it
// to go-yaml's.
func PlainTree(text []byte, line int) *yaml.Node {
	doc, ok := scanPlain(text, true, line)
	if !ok {
		return nil
	}
	return doc
}

func scanPlain(text []byte, build bool, line int) (*yaml.Node, bool) {
	if len(text) > MaxDocumentBytes || !plainBytes(text) {
		return nil, false
	}
	p := plainScan{pending: -1, build: build, lineNo: line - 1}
	if build {
		p.all = text
	}
	for len(text) > 0 {
		line, rest, brk := bytes.Cut(text, []byte{'\n'})
		text = rest
		p.lineNo++
		p.cur, p.brk, p.colOff, p.colRunes = line, brk, 0, 0
		if !p.line(line) {
			return nil, false
		}
	}
	if p.keys == 0 {
		return nil, false
	}
	p.endScalar()
	return p.doc, true
}

// plainBlock is an open block collection: the column of its keys or dashes, and its node when
// building a tree.
type plainBlock struct {
	indent int
	seq    bool
	node   *yaml.Node
}

type plainScan struct {
	stack []plainBlock
	// pending is the column of a key or dash whose value is still to come (a nested
	// collection, or nothing: null), or -1; pendingKey says it is a key's, whose sequence may
	// start at its own column.
	pending    int
	pendingKey bool
	// In a block scalar: its lines are those indented at least scalarMin (fixed by the first
	// one, scalarIndent); the scalar ends at a line indented at most scalarOwner.
	inScalar                             bool
	scalarOwner, scalarMin, scalarIndent int
	keys                                 int

	// Building a tree (PlainTree): the current line, its number and whether a line break ends
	// it; the document node; the null value of a pending key or dash, which a nested collection
	// replaces; and the open block scalar with its lines and header.
	build       bool
	all         []byte // the whole text, and one string copy of it (str)
	text        string
	nodes       []yaml.Node
	cur         []byte
	colOff      int // column's last offset in cur, and the characters before it
	colRunes    int
	lineNo      int
	brk         bool
	doc         *yaml.Node
	slot        *yaml.Node
	scalar      *yaml.Node
	scalarValue []byte // the open block scalar's value so far, without its final break
	scalarBreak bool   // its last line of text ended with a break
	scalarBlank bool   // its last line of text started with a blank (folded: kept as is)
	// scalarTrailing counts the empty lines since its last line of text.
	scalarTrailing int
	folded         bool
	chomp          byte // '-' strip, '+' keep, 0 clip
}

func (p *plainScan) line(line []byte) bool {
	t := bytes.TrimLeft(line, " ")
	ind := len(line) - len(t)
	if p.inScalar {
		if in, ok := p.scalarLine(t, ind); in {
			if ok && p.build {
				p.scalarAdd(line, p.brk)
			}
			return ok
		}
		p.inScalar = false
		p.endScalar()
	}
	if len(t) == 0 || t[0] == '#' {
		return bytes.IndexByte(t, '\t') < 0
	}
	if bytes.IndexByte(t, '\t') >= 0 || ind == 0 && (bytes.HasPrefix(t, []byte("---")) || bytes.HasPrefix(t, []byte("..."))) {
		return false
	}
	isSeq := dash(t)
	if !p.place(ind, isSeq) {
		return false
	}
	col, body := ind, t
	if isSeq {
		after := body[1:]
		sp := len(after) - len(bytes.TrimLeft(after, " "))
		if sp == len(after) || after[sp] == '#' {
			p.pending, p.pendingKey = col, false
			if p.build {
				// Null unless a collection follows; go-yaml places it just after the dash.
				p.slot = p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: p.lineNo, Column: ind + 2})
				p.add(p.slot)
			}
			return true
		}
		col, body = col+1+sp, after[sp:]
		if dash(body) {
			return false // a sequence in a sequence's entry on one line
		}
		if _, _, isKey := plainKey(body); !isKey {
			return p.value(body, ind, col)
		}
		b := plainBlock{indent: col} // a mapping in the entry
		if p.build {
			b.node = p.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: p.lineNo, Column: col + 1})
			p.add(b.node)
		}
		p.stack = append(p.stack, b)
	}
	k, v, isKey := plainKey(body)
	if !isKey {
		return false
	}
	p.keys++
	if p.build {
		key := p.node(yaml.Node{Kind: yaml.ScalarNode, Line: p.lineNo, Column: col + 1})
		switch k[0] {
		case '"':
			key.Tag, key.Style, key.Value = "!!str", yaml.DoubleQuotedStyle, p.str(k[1:len(k)-1])
		case '\'':
			key.Tag, key.Style, key.Value = "!!str", yaml.SingleQuotedStyle, p.str(k[1:len(k)-1])
		default:
			key.Value = p.str(k)
			key.Tag = plainTag(key.Value)
		}
		key.Column = p.column(len(p.cur) - len(body))
		p.add(key)
	}
	colon := len(p.cur) - len(v) // just after the ":"
	v = bytes.TrimLeft(v, " ")
	if len(v) == 0 || v[0] == '#' {
		p.pending, p.pendingKey = col, true
		if p.build {
			p.slot = p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: p.lineNo, Column: p.column(colon)})
			p.add(p.slot)
		}
		return true
	}
	return p.value(v, col, col+1)
}

// scalarLine tells whether a line (t, indented ind) belongs to the open block scalar, and if it
// does whether the scalar may hold it.
func (p *plainScan) scalarLine(t []byte, ind int) (in, ok bool) {
	switch {
	case len(t) == 0:
		// An empty line belongs to the scalar; one of spaces only before its first line
		// might hold more spaces than that line, which YAML refuses.
		return true, ind == 0 || p.scalarIndent > 0
	case p.scalarIndent == 0 && ind >= p.scalarMin:
		// A tab is content only once the indentation is known.
		p.scalarIndent = ind
		return true, t[0] != '\t'
	case p.scalarIndent > 0 && ind >= p.scalarIndent:
		return true, true
	case ind > p.scalarOwner:
		return true, false // less indented than the scalar, more than its key
	}
	return false, true
}

// column is go-yaml's 1-based column of the current line's byte off: it counts characters. Calls
// on a line come with growing offsets (a flow sequence's items), so it counts on from the last.
func (p *plainScan) column(off int) int {
	if off < p.colOff {
		p.colOff, p.colRunes = 0, 0
	}
	p.colRunes += utf8.RuneCount(p.cur[p.colOff:off])
	p.colOff = off
	return p.colRunes + 1
}

// node returns a new node holding n. Nodes come from blocks, the first sized by nodesFor and any
// next a quarter of the last, so that building a tree takes few allocations.
func (p *plainScan) node(n yaml.Node) *yaml.Node {
	if len(p.nodes) == cap(p.nodes) {
		size := min(max(16, cap(p.nodes)/4), 1024)
		if p.nodes == nil {
			size = nodesFor(p.all)
		}
		p.nodes = make([]yaml.Node, 0, size)
	}
	p.nodes = append(p.nodes, n)
	return &p.nodes[len(p.nodes)-1]
}

// nodesFor guesses how many nodes the tree of a Plain text has, rarely fewer: a key and its
// value for each colon, an entry for each dash, an item for each comma or [ of a flow
// sequence, but at most three to a line (- key: value).
func nodesFor(text []byte) int {
	guess := 2*bytes.Count(text, []byte{':'}) + bytes.Count(text, []byte{'-'}) + bytes.Count(text, []byte{','}) +
		bytes.Count(text, []byte{'['})
	return min(guess, 3*bytes.Count(text, []byte{'\n'})+3) + 2
}

// str returns a part of the text as a string: a substring of one copy of the whole text, made
// once, so that the tree's values take no allocation of their own.
func (p *plainScan) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if p.text == "" {
		p.text = string(p.all)
	}
	// b is all[off:off+len(b)]: every slice of the text keeps its capacity to the text's end.
	off := cap(p.all) - cap(b)
	if off < 0 || off+len(b) > len(p.text) || p.text[off] != b[0] {
		return string(b) // not a slice of the text after all
	}
	return p.text[off : off+len(b)]
}

// add appends a node to the collection on top of the stack.
func (p *plainScan) add(n *yaml.Node) {
	top := p.stack[len(p.stack)-1].node
	top.Content = append(top.Content, n)
}

// plainTag is the tag go-yaml v3 resolves a plain scalar to.
func plainTag(value string) string {
	if value == "<<" {
		return "!!merge"
	}
	if value != "" && !strings.ContainsRune("+-0123456789yYnNtTfFoO~<.", rune(value[0])) {
		return "!!str" // go-yaml resolves nothing else that starts so (its resolveTable)
	}
	return (&yaml.Node{Kind: yaml.ScalarNode, Value: value}).ShortTag()
}

// scalarAdd takes a line of the open block scalar into its value as go-yaml's scanner does
// (yaml_parser_scan_block_scalar): lines lose the scalar's indentation; a folded scalar joins
// two lines of text with a space, keeps the breaks around lines that start with a blank, and
// of a run of empty lines keeps all but the first break. The final break and the empty lines
// after the text are held back (scalarBreak, scalarTrailing) for endScalar's chomping. Empty
// lines are only counted, so that a scalar of many costs no more than its value.
func (p *plainScan) scalarAdd(line []byte, brk bool) {
	if p.scalarIndent == 0 || len(line) <= p.scalarIndent && len(bytes.TrimLeft(line, " ")) == 0 {
		if brk {
			p.scalarTrailing++ // a break: the line holds no more than the indentation
		}
		return
	}
	body := line[p.scalarIndent:]
	blank := body[0] == ' ' || body[0] == '\t'
	if p.folded && p.scalarBreak && !p.scalarBlank && !blank {
		if p.scalarTrailing == 0 {
			p.scalarValue = append(p.scalarValue, ' ')
		}
	} else if p.scalarBreak {
		p.scalarValue = append(p.scalarValue, '\n')
	}
	for ; p.scalarTrailing > 0; p.scalarTrailing-- {
		p.scalarValue = append(p.scalarValue, '\n')
	}
	p.scalarBlank = blank
	p.scalarValue = append(p.scalarValue, body...)
	p.scalarBreak = brk
}

// endScalar sets the value of the block scalar just ended: its lines, then the final break and
// the empty lines after the text as the chomping indicator says.
func (p *plainScan) endScalar() {
	n := p.scalar
	if n == nil {
		return
	}
	p.scalar = nil
	if p.chomp != '-' && p.scalarBreak {
		p.scalarValue = append(p.scalarValue, '\n')
	}
	if p.chomp == '+' {
		for ; p.scalarTrailing > 0; p.scalarTrailing-- {
			p.scalarValue = append(p.scalarValue, '\n')
		}
	}
	n.Value = string(p.scalarValue)
	p.scalarValue, p.scalarBreak, p.scalarBlank, p.scalarTrailing = p.scalarValue[:0], false, false, 0
}

// place checks that a line at column ind continues the open collections (or starts one under a
// pending key or dash), and leaves the collection it belongs to on top of the stack.
func (p *plainScan) place(ind int, isSeq bool) bool {
	if p.pending >= 0 {
		at, key := p.pending, p.pendingKey
		p.pending = -1
		slot := p.slot
		p.slot = nil
		if ind > at || key && isSeq && ind == at {
			b := plainBlock{indent: ind, seq: isSeq}
			if p.build {
				// The pending key's or dash's value is this collection, not null.
				*slot = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: p.lineNo, Column: ind + 1}
				if isSeq {
					slot.Kind, slot.Tag = yaml.SequenceNode, "!!seq"
				}
				b.node = slot
			}
			p.stack = append(p.stack, b)
			return true
		}
	}
	if len(p.stack) == 0 {
		if ind != 0 || isSeq {
			return false // the document is a mapping at column 0
		}
		b := plainBlock{}
		if p.build {
			b.node = p.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: p.lineNo, Column: 1})
			p.doc = p.node(yaml.Node{Kind: yaml.DocumentNode, Line: p.lineNo, Column: 1, Content: []*yaml.Node{b.node}})
		}
		p.stack = append(p.stack, b)
		return true
	}
	for len(p.stack) > 1 && p.stack[len(p.stack)-1].indent > ind {
		p.stack = p.stack[:len(p.stack)-1]
	}
	top := p.stack[len(p.stack)-1]
	if top.indent != ind {
		return false
	}
	if top.seq == isSeq {
		return true
	}
	// A sequence at its key's column ends at the mapping's next key.
	if n := len(p.stack); top.seq && n > 1 && p.stack[n-2].indent == ind && !p.stack[n-2].seq {
		p.stack = p.stack[:n-1]
		return true
	}
	return false
}

// value checks a value that starts on its key's or dash's line: owner is the column of the key
// or dash, min the least column of a block scalar's lines.
func (p *plainScan) value(v []byte, owner, min int) bool {
	var n *yaml.Node
	if p.build {
		n = p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: p.lineNo, Column: p.column(len(p.cur) - len(v))})
	}
	ok := false
	switch v[0] {
	case '|', '>':
		h := v[1:]
		chomp := byte(0)
		if len(h) > 0 && (h[0] == '-' || h[0] == '+') {
			chomp, h = h[0], h[1:]
		}
		if !blankOrComment(h) {
			return false // an indentation indicator, or text after the header
		}
		p.inScalar, p.scalarOwner, p.scalarMin, p.scalarIndent = true, owner, min, 0
		if p.build {
			n.Style = yaml.LiteralStyle
			if v[0] == '>' {
				n.Style = yaml.FoldedStyle
			}
			p.scalar, p.folded, p.chomp = n, v[0] == '>', chomp
		}
		ok = true
	case '"':
		end, q := doubleQuoted(v)
		ok = q && blankOrComment(v[end:])
		if ok && p.build {
			n.Style, n.Value = yaml.DoubleQuotedStyle, p.unescape(v[1:end-1])
		}
	case '\'':
		end, q := singleQuoted(v)
		ok = q && blankOrComment(v[end:])
		if ok && p.build {
			n.Style, n.Value = yaml.SingleQuotedStyle, p.singleQuotedValue(v[1:end-1])
		}
	case '{':
		ok = len(v) > 1 && v[1] == '}' && blankOrComment(v[2:])
		if p.build {
			n.Kind, n.Tag, n.Style = yaml.MappingNode, "!!map", yaml.FlowStyle
		}
	case '[':
		if p.build {
			n.Kind, n.Tag, n.Style = yaml.SequenceNode, "!!seq", yaml.FlowStyle
		}
		end, q := p.flowSequence(v, n)
		ok = q && blankOrComment(v[end:])
	default:
		ok = plainScalar(v)
		if ok && p.build {
			n.Value = p.str(plainValue(v))
			n.Tag = plainTag(n.Value)
		}
	}
	if ok && p.build {
		p.add(n)
	}
	return ok
}

// singleQuotedValue reads the inside of a single-quoted scalar: ” is a quote.
func (p *plainScan) singleQuotedValue(s []byte) string {
	if bytes.Contains(s, []byte("''")) {
		return strings.ReplaceAll(string(s), "''", "'")
	}
	return p.str(s)
}

// plainValue is a one-line plain scalar's value: without a comment and trailing spaces.
func plainValue(v []byte) []byte {
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	return bytes.TrimRight(v, " ")
}

// unescape reads the inside of a double-quoted scalar that doubleQuoted accepted.
func (p *plainScan) unescape(s []byte) string {
	if bytes.IndexByte(s, '\\') < 0 {
		return p.str(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'x', 'u':
			n := 2
			if c == 'u' {
				n = 4
			}
			b = utf8.AppendRune(b, hexValue(s[i+1:i+1+n]))
			i += n
		default:
			b = utf8.AppendRune(b, escapes[c])
		}
	}
	return string(b)
}

// escapes are the one-character escapes doubleQuoted accepts, as YAML reads them.
var escapes = [256]rune{'0': 0, 'a': '\a', 'b': '\b', 't': '\t', 'n': '\n', 'v': '\v', 'f': '\f', 'r': '\r',
	'e': 0x1b, ' ': ' ', '"': '"', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029}

// flowSequence returns the end of a one-line flow sequence of quoted scalars and plain words,
// such as [] or ["get", "list"]; when building, seq gets its items.
func (p *plainScan) flowSequence(v []byte, seq *yaml.Node) (int, bool) {
	item := func(start int, style yaml.Style, value string) {
		if seq == nil {
			return
		}
		n := p.node(yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: style, Value: value, Line: p.lineNo,
			Column: p.column(len(p.cur) - len(v) + start)})
		if style == 0 {
			n.Tag = plainTag(value)
		}
		seq.Content = append(seq.Content, n)
	}
	i := 1
	for first := true; ; first = false {
		for i < len(v) && v[i] == ' ' {
			i++
		}
		if i < len(v) && v[i] == ']' && first {
			return i + 1, true
		}
		if i >= len(v) {
			return 0, false
		}
		switch start := i; v[i] {
		case '"':
			end, ok := doubleQuoted(v[i:])
			if !ok {
				return 0, false
			}
			i += end
			if seq != nil {
				item(start, yaml.DoubleQuotedStyle, p.unescape(v[start+1:i-1]))
			}
		case '\'':
			end, ok := singleQuoted(v[i:])
			if !ok {
				return 0, false
			}
			i += end
			if seq != nil {
				item(start, yaml.SingleQuotedStyle, p.singleQuotedValue(v[start+1:i-1]))
			}
		default:
			for i < len(v) && (wordByte(v[i]) || i > start && (v[i] == '.' || v[i] == '/' || v[i] == '-')) {
				i++
			}
			if i == start {
				return 0, false
			}
			if seq != nil {
				item(start, 0, p.str(v[start:i]))
			}
		}
		for i < len(v) && v[i] == ' ' {
			i++
		}
		if i >= len(v) {
			return 0, false
		}
		switch v[i] {
		case ']':
			return i + 1, true
		case ',':
			i++
		default:
			return 0, false
		}
	}
}

// dash reports whether t starts a sequence entry: "-" alone or followed by a space.
func dash(t []byte) bool { return t[0] == '-' && (len(t) == 1 || t[1] == ' ') }

// plainKey splits "key: rest" or "key:" where key is a word of letters, digits and "._/-"
// (starting with a letter, a digit or "_", and not one that reads as null, a number or a
// date) or a quoted string
// without escapes, at most maxPlainKey bytes long.
func plainKey(t []byte) (key, rest []byte, ok bool) {
	i := 0
	switch c := t[0]; {
	case c == '"' || c == '\'':
		end := bytes.IndexByte(t[1:], c) + 1
		if end <= 0 || bytes.IndexByte(t[1:end], '\\') >= 0 {
			return nil, nil, false
		}
		i = end + 1
	default:
		for i < len(t) && (wordByte(t[i]) || i > 0 && (t[i] == '.' || t[i] == '/' || t[i] == '-')) {
			i++
		}
		if i == 0 {
			return nil, nil, false
		}
		switch string(t[:i]) {
		case "null", "Null", "NULL":
			return nil, nil, false
		}
		if t[0] >= '0' && t[0] <= '9' && !bytes.ContainsFunc(t[:i], notNumeric) {
			return nil, nil, false // a key that may read as a number, a date or a time
		}
	}
	if i >= len(t) || t[i] != ':' || i+1 < len(t) && t[i+1] != ' ' || i > maxPlainKey {
		return nil, nil, false
	}
	return t[:i], t[i+1:], true
}

// notNumeric reports whether a character never occurs in YAML 1.1's numbers, dates and times
// (digits, signs, ".", "_", ":", "-", exponents, the 0x, 0o and 0b prefixes and hex digits).
func notNumeric(r rune) bool {
	return r == '/' || r >= 'g' && r <= 'z' && r != 'o' && r != 'x' || r >= 'G' && r <= 'Z' && r != 'O' && r != 'X'
}

// maxPlainKey bounds a key's length: YAML gives up on a simple key whose ":" is over 1024
// characters from its start.
const maxPlainKey = 512

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// plainScalar reports whether v is a one-line plain scalar, optionally followed by a comment:
// it starts with no indicator, and holds no ": " and no trailing ":", which would make it a
// mapping.
func plainScalar(v []byte) bool {
	switch v[0] {
	case '?', ':', ',', ']', '}', '#', '&', '*', '!', '%', '@', '`':
		return false
	case '-':
		if len(v) == 1 || v[1] == ' ' {
			return false
		}
	}
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimRight(v, " ")
	switch string(bytes.TrimLeft(v, "+-")) {
	case ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN":
		return false // go-yaml v2 reads infinity or NaN, which kubectl's JSON cannot hold
	}
	return bytes.Index(v, []byte(": ")) < 0 && v[len(v)-1] != ':'
}

// doubleQuoted returns the end of a one-line double-quoted scalar with only the escapes both
// go-yaml versions read.
func doubleQuoted(v []byte) (int, bool) {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(v) {
				return 0, false
			}
			n := 0
			switch v[i+1] {
			case '0', 'a', 'b', 't', 'n', 'v', 'f', 'r', 'e', ' ', '"', '\\', 'N', '_', 'L', 'P':
			case 'x':
				n = 2
			case 'u':
				n = 4
			default:
				return 0, false
			}
			if n > 0 {
				if i+2+n > len(v) || !hexDigits(v[i+2:i+2+n]) {
					return 0, false
				}
				if r := hexValue(v[i+2 : i+2+n]); r >= 0xD800 && r <= 0xDFFF || r < 0x20 && r != '\t' && r != '\n' {
					return 0, false
				}
			}
			i += 1 + n
		}
	}
	return 0, false
}

// singleQuoted returns the end of a one-line single-quoted scalar (” is a quote).
func singleQuoted(v []byte) (int, bool) {
	for i := 1; i < len(v); i++ {
		if v[i] == '\'' {
			if i+1 < len(v) && v[i+1] == '\'' {
				i++
				continue
			}
			return i + 1, true
		}
	}
	return 0, false
}

func hexDigits(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hexValue(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		default:
			r = r<<4 | rune(c-'A'+10)
		}
	}
	return r
}

// blankOrComment reports whether what follows a value on its line is nothing, spaces, or
// spaces and a comment.
func blankOrComment(rest []byte) bool {
	t := bytes.TrimLeft(rest, " ")
	return len(t) == 0 || t[0] == '#' && len(t) < len(rest)
}

// plainBytes reports whether text is UTF-8 of characters YAML prints, with LF line breaks: no
// CR, no control character but tab, no C1 control or NEL, no LS, PS, byte order mark or
// non-character U+FFFE and U+FFFF.
func plainBytes(text []byte) bool {
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError || r <= 0x9f || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		i += size
	}
	return true
}
