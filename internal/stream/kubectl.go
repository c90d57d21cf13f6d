package stream

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// kubectlJSON returns a document's JSON form as kubectl computes it: sigs.k8s.io/yaml's
// YAMLToJSON, which decodes with go-yaml v2 (YAML 1.1) and encodes with encoding/json. dup
// reports a key given twice in a mapping: the strict conversion refuses it, and the JSON is then
// the non-strict one, with the last value.
//
// Most documents are converted from the tree already parsed for their lines (kubectl11), so that
// a document is parsed once. The tree is YAML 1.2's, but it keeps every scalar's text and
// style, from which go-yaml v2's values follow. Documents holding what the tree does not keep,
// or what this conversion does not reproduce by itself (tags, anchors and aliases, merge keys,
// keys that are not strings, .inf and .nan), are converted from their text by sigs.k8s.io/yaml
// itself, after the alias guard. TestKubectlJSONAgreesWithSigsYAML and FuzzKubectlJSON hold the
// two to the same bytes.
func kubectlJSON(text []byte, root *yaml.Node, textLine int) (data []byte, dup bool, err error) {
	if data, dup, ok := treeJSON(text, root, textLine); ok {
		return data, dup, nil
	}
	if err := guard(text, root); err != nil {
		return nil, false, err
	}
	return yamlToJSON(text)
}

// treeJSON is kubectlJSON's path through the tree; ok is false when the document must take the
// other path.
func treeJSON(text []byte, root *yaml.Node, textLine int) (data []byte, dup bool, ok bool) {
	c := kubectl11{buf: make([]byte, 0, len(text)+len(text)/8)}
	if mayHoldLoneTag(text) {
		// Find out where the tree's scalars start in the text, unless line breaks other than LF
		// make that uncertain.
		if otherBreaks(text) {
			return nil, false, false
		}
		c.text, c.textLine = text, textLine
	}
	if !c.node(rootOf(root), 0) {
		return nil, false, false
	}
	return c.buf, c.dup, true
}

// otherBreaks reports whether text holds a line break other than LF: CR, or YAML 1.1's NEL,
// LS and PS, which go-yaml counts as line breaks too.
func otherBreaks(text []byte) bool {
	if bytes.IndexByte(text, '\r') >= 0 {
		return true
	}
	for _, lead := range []byte{0xc2, 0xe2} {
		for i := bytes.IndexByte(text, lead); i >= 0; {
			rest := text[i+1:]
			if lead == 0xc2 && len(rest) > 0 && rest[0] == 0x85 ||
				lead == 0xe2 && len(rest) > 1 && rest[0] == 0x80 && (rest[1] == 0xa8 || rest[1] == 0xa9) {
				return true
			}
			next := bytes.IndexByte(rest, lead)
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return false
}

// mayHoldLoneTag reports whether text may hold the non-specific tag "!", which the tree drops:
// after it, go-yaml v2 reads a plain scalar as a string (! 5 is "5"), while the tree holds the
// scalar as if untagged. The tree keeps every other tag (TaggedStyle). A lone ! is a ! followed
// by a blank, a line break, a comma or the end; !<!> spells it too.
func mayHoldLoneTag(text []byte) bool {
	for i := bytes.IndexByte(text, '!'); i >= 0; {
		if i+1 == len(text) {
			return true
		}
		switch c := text[i+1]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '<' || c >= utf8.RuneSelf:
			return true
		}
		next := bytes.IndexByte(text[i+1:], '!')
		if next < 0 {
			return false
		}
		i += 1 + next
	}
	return false
}

// kubectl11 converts a tree to the JSON that go-yaml v2 and encoding/json give for its text:
// YAML 1.1 values (go-yaml v2's resolve), string keys, mapping keys sorted and the last of
// repeated keys kept, as encoding/json writes a map[string]any. It gives up (node returns false)
// on whatever it does not reproduce exactly.
type kubectl11 struct {
	buf []byte
	dup bool
	// text, when set, is the document's text, whose first line is line textLine of the
	// source: every plain scalar that is not a string is then checked for a lone ! tag.
	text       []byte
	textLine   int
	lineStarts []int
	// pairs holds the pairs of the mappings being converted, as a stack.
	pairs []pair11
}

type pair11 struct {
	key   string
	value *yaml.Node
	// order is the pair's position in its mapping, so that the last of repeated keys wins.
	order int
}

func (c *kubectl11) node(n *yaml.Node, depth int) bool {
	if depth > maxDepth || n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		return false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		c.buf = append(c.buf, '[')
		for i, e := range n.Content {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			if !c.node(e, depth+1) {
				return false
			}
		}
		c.buf = append(c.buf, ']')
		return true
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return false // aliases, and documents nested where no document can be
}

func (c *kubectl11) mapping(n *yaml.Node, depth int) bool {
	start := len(c.pairs)
	defer func() { c.pairs = c.pairs[:start] }()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&yaml.TaggedStyle != 0 {
			return false
		}
		if k.Style == 0 {
			// A plain key: go-yaml v2 resolves it like any scalar, and sigs.k8s.io/yaml turns
			// what is not a string (1, 1.5, yes, null) into a string its own way. Merge keys
			// (<<) are applied in v2's order, not YAML's. Neither is worth reproducing.
			if k.Value == "<<" || resolved11(k.Value) != str11 {
				return false
			}
		}
		c.pairs = append(c.pairs, pair11{key: k.Value, value: n.Content[i+1], order: i})
	}
	seg := c.pairs[start:]
	if !slices.IsSortedFunc(seg, comparePairs) {
		slices.SortFunc(seg, comparePairs)
	}
	c.buf = append(c.buf, '{')
	end := len(c.pairs)
	first := true
	for i := start; i < end; i++ {
		p := c.pairs[i]
		if i+1 < end && c.pairs[i+1].key == p.key {
			c.dup = true // the later one wins, as v2's map assignment does
			continue
		}
		if !first {
			c.buf = append(c.buf, ',')
		}
		first = false
		c.buf = appendString(c.buf, p.key)
		c.buf = append(c.buf, ':')
		if !c.node(p.value, depth+1) {
			return false
		}
	}
	c.buf = append(c.buf, '}')
	return true
}

// comparePairs orders pairs by key, as encoding/json sorts a map's keys, and repeated keys by
// their position.
func comparePairs(a, b pair11) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return a.order - b.order
}

func (c *kubectl11) scalar(n *yaml.Node) bool {
	if n.Style != 0 {
		// Quoted and block scalars are strings in go-yaml v2 (its "implicit" is false).
		c.buf = appendString(c.buf, n.Value)
		return true
	}
	kind := resolved11(n.Value)
	if kind != str11 && c.text != nil && !c.untagged(n) {
		return false
	}
	switch v := n.Value; kind {
	case null11:
		c.buf = append(c.buf, "null"...)
	case true11:
		c.buf = append(c.buf, "true"...)
	case false11:
		c.buf = append(c.buf, "false"...)
	case str11:
		c.buf = appendString(c.buf, v)
	case int11:
		c.buf = appendInt11(c.buf, v)
	case float11:
		f, ok := float11Value(v)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return false // kubectl's conversion fails on these; leave it the error
		}
		c.buf = appendJSONFloat(c.buf, f)
	default:
		return false
	}
	return true
}

// untagged reports whether a plain scalar certainly has no lone ! tag in front of it: the text
// where the tree says it starts (at its tag, when it has one) holds its first character, or for
// an empty scalar anything but a !.
func (c *kubectl11) untagged(n *yaml.Node) bool {
	if c.lineStarts == nil {
		c.lineStarts = append(c.lineStarts, 0)
		for i, b := range c.text {
			if b == '\n' {
				c.lineStarts = append(c.lineStarts, i+1)
			}
		}
	}
	line := n.Line - c.textLine
	if line < 0 || line >= len(c.lineStarts) || n.Column < 1 {
		return false
	}
	off := c.lineStarts[line]
	if line == 0 && bytes.HasPrefix(c.text, bom) {
		off += len(bom) // go-yaml does not count a leading byte order mark
	}
	for col := 1; col < n.Column; col++ { // columns count characters
		if off >= len(c.text) || c.text[off] == '\n' {
			return false
		}
		_, size := utf8.DecodeRune(c.text[off:])
		off += size
	}
	if n.Value == "" {
		return off >= len(c.text) || c.text[off] != '!'
	}
	return off < len(c.text) && c.text[off] == n.Value[0]
}

// kind11 is what go-yaml v2 resolves a plain scalar to.
type kind11 uint8

const (
	str11 kind11 = iota
	null11
	true11
	false11
	int11
	float11
	special11 // .inf, .nan
)

// yamlStyleFloat is go-yaml v2's.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolved11 tells what go-yaml v2 (go.yaml.in/yaml/v2 resolve.go, the decoder sigs.k8s.io/yaml
// uses) resolves a plain scalar to, step by step as it does.
func resolved11(s string) kind11 {
	if s == "" {
		return null11
	}
	hint := s[0]
	switch {
	case hint == '+' || hint == '-' || hint >= '0' && hint <= '9':
		hint = 'D'
	case strings.IndexByte("yYnNtTfFoO~", hint) >= 0:
		hint = 'M'
	case hint == '.':
	default:
		return str11
	}
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true11
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false11
	case "~", "null", "Null", "NULL":
		return null11
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return special11
	}
	switch hint {
	case '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return float11
		}
	case 'D':
		if isTimestamp11(s) {
			return str11 // a !!timestamp, which v2 decodes into an interface{} as its text
		}
		plain := strings.ReplaceAll(s, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return int11
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return int11
		}
		if yamlStyleFloat.MatchString(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return float11
			}
		}
		if rest, ok := strings.CutPrefix(plain, "0b"); ok {
			if _, err := strconv.ParseInt(rest, 2, 64); err == nil {
				return int11
			}
			if _, err := strconv.ParseUint(rest, 2, 64); err == nil {
				return int11
			}
		} else if rest, ok := strings.CutPrefix(plain, "-0b"); ok {
			if _, err := strconv.ParseInt("-"+rest, 2, 64); err == nil {
				return int11
			}
		}
	}
	return str11
}

// appendInt11 appends the integer go-yaml v2 reads from s, which resolved11 found to be one.
func appendInt11(buf []byte, s string) []byte {
	plain := strings.ReplaceAll(s, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return strconv.AppendInt(buf, i, 10)
	}
	if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return strconv.AppendUint(buf, u, 10)
	}
	if rest, ok := strings.CutPrefix(plain, "0b"); ok {
		if i, err := strconv.ParseInt(rest, 2, 64); err == nil {
			return strconv.AppendInt(buf, i, 10)
		}
		u, _ := strconv.ParseUint(rest, 2, 64)
		return strconv.AppendUint(buf, u, 10)
	}
	i, _ := strconv.ParseInt("-"+strings.TrimPrefix(plain, "-0b"), 2, 64)
	return strconv.AppendInt(buf, i, 10)
}

// float11Value is the float go-yaml v2 reads from s, which resolved11 found to be one.
func float11Value(s string) (float64, bool) {
	if s[0] == '.' {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	return f, err == nil
}

// timestampFormats are go-yaml v2's.
var timestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// isTimestamp11 reports whether go-yaml v2 reads a plain scalar as a timestamp.
func isTimestamp11(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, format := range timestampFormats {
		if _, err := time.Parse(format, s); err == nil {
			return true
		}
	}
	return false
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(buf []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		n := len(buf)
		if n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

// appendJSONString appends s as encoding/json writes a string: <, > and & escaped for HTML,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

const hex = "0123456789abcdef"

// jsonSafe tells the ASCII bytes encoding/json writes as they are.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		safe[b] = !strings.ContainsRune(`"\<>&`, rune(b))
	}
	return safe
}()
