package stream

import (
	"bytes"
	"unicode/utf8"
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
	if len(text) > MaxDocumentBytes || !plainBytes(text) {
		return false
	}
	p := plainScan{pending: -1}
	for len(text) > 0 {
		line, rest, _ := bytes.Cut(text, []byte{'\n'})
		text = rest
		if !p.line(line) {
			return false
		}
	}
	return p.keys > 0
}

// plainBlock is an open block collection: the column of its keys or dashes.
type plainBlock struct {
	indent int
	seq    bool
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
}

func (p *plainScan) line(line []byte) bool {
	t := bytes.TrimLeft(line, " ")
	ind := len(line) - len(t)
	if p.inScalar {
		switch {
		case len(t) == 0:
			// An empty line belongs to the scalar; one of spaces only before its first line
			// might hold more spaces than that line, which YAML refuses.
			return ind == 0 || p.scalarIndent > 0
		case p.scalarIndent == 0 && ind >= p.scalarMin:
			// A tab is content only once the indentation is known.
			p.scalarIndent = ind
			return t[0] != '\t'
		case p.scalarIndent > 0 && ind >= p.scalarIndent:
			return true
		case ind > p.scalarOwner:
			return false // less indented than the scalar, more than its key
		}
		p.inScalar = false
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
			return true
		}
		col, body = col+1+sp, after[sp:]
		if dash(body) {
			return false // a sequence in a sequence's entry on one line
		}
		if _, _, isKey := plainKey(body); !isKey {
			return p.value(body, ind, col)
		}
		p.stack = append(p.stack, plainBlock{indent: col}) // a mapping in the entry
	}
	_, v, isKey := plainKey(body)
	if !isKey {
		return false
	}
	p.keys++
	v = bytes.TrimLeft(v, " ")
	if len(v) == 0 || v[0] == '#' {
		p.pending, p.pendingKey = col, true
		return true
	}
	return p.value(v, col, col+1)
}

// place checks that a line at column ind continues the open collections (or starts one under a
// pending key or dash), and leaves the collection it belongs to on top of the stack.
func (p *plainScan) place(ind int, isSeq bool) bool {
	if p.pending >= 0 {
		at, key := p.pending, p.pendingKey
		p.pending = -1
		if ind > at || key && isSeq && ind == at {
			p.stack = append(p.stack, plainBlock{indent: ind, seq: isSeq})
			return true
		}
	}
	if len(p.stack) == 0 {
		if ind != 0 || isSeq {
			return false // the document is a mapping at column 0
		}
		p.stack = append(p.stack, plainBlock{})
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
	switch v[0] {
	case '|', '>':
		h := v[1:]
		if len(h) > 0 && (h[0] == '-' || h[0] == '+') {
			h = h[1:]
		}
		if !blankOrComment(h) {
			return false // an indentation indicator, or text after the header
		}
		p.inScalar, p.scalarOwner, p.scalarMin, p.scalarIndent = true, owner, min, 0
		return true
	case '"':
		end, ok := doubleQuoted(v)
		return ok && blankOrComment(v[end:])
	case '\'':
		end, ok := singleQuoted(v)
		return ok && blankOrComment(v[end:])
	case '{':
		return len(v) > 1 && v[1] == '}' && blankOrComment(v[2:])
	case '[':
		end, ok := flowSequence(v)
		return ok && blankOrComment(v[end:])
	}
	return plainScalar(v)
}

// flowSequence returns the end of a one-line flow sequence of quoted scalars and plain words,
// such as [] or ["get", "list"].
func flowSequence(v []byte) (int, bool) {
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
		switch v[i] {
		case '"':
			end, ok := doubleQuoted(v[i:])
			if !ok {
				return 0, false
			}
			i += end
		case '\'':
			end, ok := singleQuoted(v[i:])
			if !ok {
				return 0, false
			}
			i += end
		default:
			start := i
			for i < len(v) && (wordByte(v[i]) || i > start && (v[i] == '.' || v[i] == '/' || v[i] == '-')) {
				i++
			}
			if i == start {
				return 0, false
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
