package stream

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// maxAliasExpansion bounds how many nodes alias expansion may produce, against "billion
// laughs" documents.
const maxAliasExpansion = 1 << 20

// ToJSON converts a YAML node to JSON, as Kubernetes' own YAML decoding does: mapping keys become
// strings, merge keys (<<) are applied, aliases are expanded, and scalars keep their resolved
// YAML 1.2 types. It appends to buf and returns it.
func ToJSON(buf []byte, n *yaml.Node) ([]byte, error) {
	c := converter{buf: buf}
	if err := c.node(n, 0); err != nil {
		return nil, err
	}
	return c.buf, nil
}

type converter struct {
	buf   []byte
	nodes int
}

func (c *converter) node(n *yaml.Node, depth int) error {
	c.nodes++
	if c.nodes > maxAliasExpansion {
		return fmt.Errorf("line %d: document expands to over %d nodes through aliases", n.Line, maxAliasExpansion)
	}
	if depth > 10000 {
		return fmt.Errorf("line %d: document nests deeper than 10000 levels", n.Line)
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
		return c.node(n.Alias, depth+1)
	case yaml.SequenceNode:
		c.buf = append(c.buf, '[')
		for i, e := range n.Content {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			if err := c.node(e, depth+1); err != nil {
				return err
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
	pairs, explicit := flattenMerges(n)
	c.buf = append(c.buf, '{')
	seen := make(map[string]int, len(pairs)/2) // key → line of an explicit key, or 0 for a merged one
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
		}
		key := k.Value
		if prev, dup := seen[key]; dup {
			if i < explicit {
				return fmt.Errorf("line %d: key %q is repeated (first at line %d); remove one", k.Line, key, prev)
			}
			continue // an explicit key overrides a merged one
		}
		seen[key] = 0
		if i < explicit {
			seen[key] = k.Line
		}
		if len(seen) > 1 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendString(c.buf, key)
		c.buf = append(c.buf, ':')
		if err := c.node(v, depth+1); err != nil {
			return err
		}
	}
	c.buf = append(c.buf, '}')
	return nil
}

// flattenMerges returns the mapping's pairs with its explicit keys first and the keys merged
// in through << after them, so explicit keys win as YAML's merge key specifies, and how many of
// the returned nodes are explicit.
func flattenMerges(n *yaml.Node) ([]*yaml.Node, int) {
	hasMerge := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag == "!!merge" {
			hasMerge = true
			break
		}
	}
	if !hasMerge {
		return n.Content, len(n.Content)
	}
	var explicit, merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag != "!!merge" {
			explicit = append(explicit, k, v)
			continue
		}
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, m := range sources {
			for m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if m.Kind == yaml.MappingNode {
				p, _ := flattenMerges(m)
				merged = append(merged, p...)
			}
		}
	}
	return append(explicit, merged...), len(explicit)
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

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
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
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
