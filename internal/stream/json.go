package stream

import (
	"encoding/base64"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxAliasExpansion bounds how many nodes alias expansion and merge keys (<<) may copy, against
// "billion laughs" documents. A document without aliases never reaches it.
const maxAliasExpansion = 1 << 20

// maxJSONBytes bounds the JSON form of one document. A document of MaxDocumentBytes without
// aliases converts to a few times its size at most; anything larger comes from aliases, such as
// a long string repeated through them.
const maxJSONBytes = 8 * MaxDocumentBytes

// maxDepth bounds the nesting of a document, aliases and merge keys included.
const maxDepth = 10000

// ToJSON converts a YAML node to JSON, as Kubernetes' own YAML decoding does: mapping keys become
// strings (the key's text, for keys such as 1 or true), merge keys (<<) are applied, aliases are
// expanded, and scalars keep their resolved YAML 1.2 types. A repeated key, a non-scalar key, a
// value JSON cannot represent (.inf, .nan), a nesting over 10000 levels and an alias expansion
// over a million nodes or to more than 64 MiB are errors that name the line. It appends to buf
// and returns it.
func ToJSON(buf []byte, n *yaml.Node) ([]byte, error) {
	c := converter{buf: buf, limit: len(buf) + maxJSONBytes}
	if err := c.node(n, 0); err != nil {
		return nil, err
	}
	return c.buf, nil
}

type converter struct {
	buf []byte
	// limit is the length buf may not exceed.
	limit int
	// expanded counts the nodes copied through aliases and merge keys.
	expanded int
	// inAlias counts the aliases being expanded around the current node.
	inAlias int
	// dups, when set, collects repeated keys instead of failing on the first one; the first
	// occurrence of a key is kept. path is then kept up to date for their paths.
	dups *[]FieldError
	path []pathElem
}

// pathElem is one step of the path to the node being converted: a mapping key or a list index.
type pathElem struct {
	key   string
	index int
}

func (c *converter) fieldPath() string {
	var b strings.Builder
	for _, e := range c.path {
		if e.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		appendKey(&b, e.key)
	}
	return b.String()
}

// appendKey appends a mapping key to a dotted path, as "[key]" when the key holds a character
// that the dotted form would misread.
func appendKey(b *strings.Builder, key string) {
	if key == "" || strings.ContainsAny(key, ".[]") {
		b.WriteByte('[')
		b.WriteString(key)
		b.WriteByte(']')
		return
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
}

func (c *converter) node(n *yaml.Node, depth int) error {
	if c.inAlias > 0 {
		c.expanded++
		if c.expanded > maxAliasExpansion {
			return fmt.Errorf("line %d: document expands to over %d nodes through aliases", n.Line, maxAliasExpansion)
		}
	}
	if depth > maxDepth {
		return fmt.Errorf("line %d: document nests deeper than %d levels", n.Line, maxDepth)
	}
	if len(c.buf) > c.limit {
		return fmt.Errorf("line %d: document converts to over %d bytes of JSON", n.Line, maxJSONBytes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			c.buf = append(c.buf, "null"...)
			return nil
		}
		return c.node(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("line %d: unknown alias", n.Line)
		}
		c.inAlias++
		err := c.node(n.Alias, depth+1)
		c.inAlias--
		return err
	case yaml.SequenceNode:
		c.buf = append(c.buf, '[')
		for i, e := range n.Content {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			if c.dups != nil {
				c.path = append(c.path, pathElem{index: i})
			}
			if err := c.node(e, depth+1); err != nil {
				return err
			}
			if c.dups != nil {
				c.path = c.path[:len(c.path)-1]
			}
		}
		c.buf = append(c.buf, ']')
		return nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func (c *converter) mapping(n *yaml.Node, depth int) error {
	pairs, explicit, err := c.flattenMerges(n, depth)
	if err != nil {
		return err
	}
	c.buf = append(c.buf, '{')
	seen := make(map[string]int, len(pairs)/2) // key → line of an explicit key, or 0 for a merged one
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := resolve(pairs[i]), pairs[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
		}
		key := k.Value
		if prev, dup := seen[key]; dup {
			if i < explicit {
				if c.dups == nil {
					return fmt.Errorf("line %d: key %q is repeated (first at line %d); remove one", pairs[i].Line, key, prev)
				}
				c.path = append(c.path, pathElem{key: key, index: -1})
				p := c.fieldPath()
				c.path = c.path[:len(c.path)-1]
				*c.dups = append(*c.dups, FieldError{Line: pairs[i].Line, Field: p, Warning: true,
					Message: fmt.Sprintf("field %q is set twice (first at line %d); kubectl applies the last value, so that is the one checked; remove the other", p, prev)})
			}
			continue // the first explicit key wins, and an explicit key overrides a merged one
		}
		seen[key] = 0
		if i < explicit {
			seen[key] = pairs[i].Line
		}
		if len(seen) > 1 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendString(c.buf, key)
		c.buf = append(c.buf, ':')
		if c.dups != nil {
			c.path = append(c.path, pathElem{key: key, index: -1})
		}
		if i >= explicit {
			c.inAlias++ // a merged value is a copy, like an alias
		}
		err := c.node(v, depth+1)
		if i >= explicit {
			c.inAlias--
		}
		if err != nil {
			return err
		}
		if c.dups != nil {
			c.path = c.path[:len(c.path)-1]
		}
	}
	c.buf = append(c.buf, '}')
	return nil
}

// flattenMerges returns the mapping's pairs with its explicit keys first and the keys merged
// in through << after them, so explicit keys win as YAML's merge key specifies, and how many of
// the returned nodes are explicit. Merged pairs count against the alias expansion budget, so
// that neither a merge cycle (&a {<<: *a}) nor nested merges of merges can explode.
func (c *converter) flattenMerges(n *yaml.Node, depth int) ([]*yaml.Node, int, error) {
	if !hasMergeKey(n) {
		return n.Content, len(n.Content), nil
	}
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("line %d: document nests deeper than %d levels", n.Line, maxDepth)
	}
	var explicit, merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			explicit = append(explicit, n.Content[i], n.Content[i+1])
		}
	}
	for k, m := range merges(n) {
		if m.Kind != yaml.MappingNode {
			return nil, 0, fmt.Errorf("line %d: a merge key (<<) takes a mapping or a list of mappings", k.Line)
		}
		c.expanded++ // even an empty mapping costs a step to merge
		p, _, err := c.flattenMerges(m, depth+1)
		if err != nil {
			return nil, 0, err
		}
		c.expanded += len(p) / 2
		if c.expanded > maxAliasExpansion {
			return nil, 0, fmt.Errorf("line %d: document expands to over %d nodes through aliases", k.Line, maxAliasExpansion)
		}
		merged = append(merged, p...)
	}
	return append(explicit, merged...), len(explicit), nil
}

// merges yields each merge key (<<) of a mapping with each node it merges in, in the order
// YAML's merge key gives them precedence: the merge keys in order, and the items of a list in
// order. Aliases are resolved. A node that is not a mapping is yielded too, for the caller to
// refuse or skip. This is the one place that reads what a merge key merges: the JSON
// conversion flattens with it, and key lookups (lines, patches) search with it.
func merges(m *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(k, src *yaml.Node) bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if !isMergeKey(k) {
				continue
			}
			v := resolve(m.Content[i+1])
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, s := range sources {
				if !yield(k, resolve(s)) {
					return
				}
			}
		}
	}
}

// hasMergeKey reports whether a mapping has a merge key (<<).
func hasMergeKey(m *yaml.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if isMergeKey(m.Content[i]) {
			return true
		}
	}
	return false
}

// isMergeKey reports whether a mapping key is YAML's merge key: a plain <<.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

func (c *converter) scalar(n *yaml.Node) error {
	tag := n.ShortTag()
	switch tag {
	case "!!null":
		c.buf = append(c.buf, "null"...)
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("line %d: %q is not a boolean", n.Line, n.Value)
		}
		c.buf = strconv.AppendBool(c.buf, b)
	case "!!int":
		if isPlainInt(n.Value) {
			c.buf = append(c.buf, n.Value...)
			return nil
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			var u uint64
			if err := n.Decode(&u); err != nil {
				return fmt.Errorf("line %d: %q is not an integer", n.Line, n.Value)
			}
			c.buf = strconv.AppendUint(c.buf, u, 10)
			return nil
		}
		c.buf = strconv.AppendInt(c.buf, i, 10)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: %q is not a number", n.Line, n.Value)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("line %d: %s cannot be represented in JSON; quote it if it is meant as a string", n.Line, n.Value)
		}
		c.buf = strconv.AppendFloat(c.buf, f, 'g', -1, 64)
	case "!!binary":
		if _, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err != nil {
			return fmt.Errorf("line %d: invalid !!binary value", n.Line)
		}
		c.buf = appendString(c.buf, strings.Join(strings.Fields(n.Value), ""))
	default: // !!str, !!timestamp and custom tags are strings
		c.buf = appendString(c.buf, n.Value)
	}
	return nil
}

func isPlainInt(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
