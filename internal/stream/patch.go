package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
)

// ApplyPatch applies RFC 6902 add, replace and remove operations to a YAML mapping node (or the
// document node holding it) in place, keeping the comments, key order and layout of everything
// the patch does not touch. Parents that an add needs and the document lacks are created: a list
// when the next segment is "-", a mapping otherwise.
//
// The patch is applied to the document's JSON meaning: a path through an alias (*name) or a key
// merged in with << patches a copy put in its place, never the anchored original that other parts
// of the document share. Replacing or removing a part that defines an anchor is an error, since
// aliases elsewhere may use it. Operations before a failing one stay applied.
func ApplyPatch(node *yaml.Node, ops []jsonpatch.Operation) error {
	node = rootOf(node)
	for _, op := range ops {
		if err := applyOp(node, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Operation, op.Path, err)
		}
	}
	return nil
}

func applyOp(root *yaml.Node, op jsonpatch.Operation) error {
	switch op.Operation {
	case "add", "replace", "remove":
	default:
		return fmt.Errorf("unsupported operation; only add, replace and remove are")
	}
	segs, err := pointer(op.Path)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("cannot patch the whole document")
	}
	var value *yaml.Node
	if op.Operation != "remove" {
		if value, err = ValueNode(op.Value); err != nil {
			return err
		}
	}
	parent := root
	for i, s := range segs[:len(segs)-1] {
		next, err := child(parent, s, op.Operation == "add", segs[i+1])
		if err != nil {
			return err
		}
		parent = next
	}
	last := segs[len(segs)-1]
	switch parent.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if isMergeKey(parent.Content[i]) || parent.Content[i].Value != last {
				continue
			}
			old := parent.Content[i+1]
			if err := noAnchors(old); err != nil {
				return err
			}
			if op.Operation == "remove" {
				if err := noAnchors(parent.Content[i]); err != nil {
					return err
				}
				parent.Content = append(parent.Content[:i:i], parent.Content[i+2:]...)
				return nil
			}
			value.LineComment = old.LineComment
			parent.Content[i+1] = value
			return nil
		}
		_, merged := mappingValue(parent, last)
		switch {
		case merged != nil && op.Operation == "remove":
			return fmt.Errorf("field %q comes from a merge key (<<); remove it by hand", last)
		case merged == nil && op.Operation != "add":
			return fmt.Errorf("no field %q", last)
		}
		// A new key, or one that overrides the value merged in through <<.
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, value)
		return nil
	case yaml.SequenceNode:
		idx := len(parent.Content)
		if last != "-" || op.Operation != "add" {
			if idx, err = index(last, len(parent.Content)); err != nil {
				return err
			}
		}
		if op.Operation == "add" {
			parent.Content = append(parent.Content[:idx], append([]*yaml.Node{value}, parent.Content[idx:]...)...)
			return nil
		}
		if idx == len(parent.Content) {
			return fmt.Errorf("index %q out of range", last)
		}
		old := parent.Content[idx]
		if err := noAnchors(old); err != nil {
			return err
		}
		if op.Operation == "replace" {
			value.LineComment = old.LineComment
			parent.Content[idx] = value
		} else {
			parent.Content = append(parent.Content[:idx:idx], parent.Content[idx+1:]...)
		}
		return nil
	}
	return fmt.Errorf("parent is not an object or a list")
}

// child returns the node at one path segment, ready to be patched: an alias is replaced by a copy
// of what it points at, and a key merged in through << by an explicit copy. When create is set, a
// missing or null child becomes an empty container: a list when next is "-", a mapping otherwise.
func child(n *yaml.Node, seg string, create bool, next string) (*yaml.Node, error) {
	var slot **yaml.Node
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !isMergeKey(n.Content[i]) && n.Content[i].Value == seg {
				slot = &n.Content[i+1]
				break
			}
		}
		if slot == nil {
			v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
			if _, merged := mappingValue(n, seg); merged != nil {
				v = copyTree(merged)
			} else if !create {
				return nil, fmt.Errorf("no field %q", seg)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, v)
			slot = &n.Content[len(n.Content)-1]
		}
	case yaml.SequenceNode:
		i, err := index(seg, len(n.Content)-1)
		if err != nil {
			return nil, err
		}
		slot = &n.Content[i]
	default:
		return nil, fmt.Errorf("%q is inside a scalar", seg)
	}
	v := *slot
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		cp := copyTree(v.Alias)
		cp.LineComment = v.LineComment
		*slot, v = cp, cp
	}
	if create && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		if err := noAnchors(v); err != nil {
			return nil, err
		}
		kind, tag := yaml.MappingNode, "!!map"
		if next == "-" {
			kind, tag = yaml.SequenceNode, "!!seq"
		}
		*v = yaml.Node{Kind: kind, Tag: tag, HeadComment: v.HeadComment, LineComment: v.LineComment, FootComment: v.FootComment}
	}
	return v, nil
}

// copyTree copies a subtree for patching in place of an alias or a merged key. Anchors are
// dropped from the copy, so that aliases after it still mean the original; aliases inside it
// are kept, and still point at their anchors, which come before the copy.
func copyTree(n *yaml.Node) *yaml.Node {
	cp := *n
	cp.Anchor = ""
	if n.Content != nil {
		cp.Content = make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			if c.Kind == yaml.AliasNode {
				a := *c
				cp.Content[i] = &a
			} else {
				cp.Content[i] = copyTree(c)
			}
		}
	}
	return &cp
}

// noAnchors refuses to drop a subtree that defines an anchor: aliases elsewhere in the document
// may use it, and they would be left dangling.
func noAnchors(n *yaml.Node) error {
	if n.Anchor != "" {
		return fmt.Errorf("the value defines the anchor &%s, which aliases elsewhere may use; edit it by hand", n.Anchor)
	}
	if n.Kind == yaml.AliasNode {
		return nil
	}
	for _, c := range n.Content {
		if err := noAnchors(c); err != nil {
			return err
		}
	}
	return nil
}

// index parses a JSON pointer array index, which RFC 6901 writes without sign or leading
// zeros, and checks it is at most max.
func index(seg string, max int) (int, error) {
	if seg == "" || len(seg) > 9 || (len(seg) > 1 && seg[0] == '0') || strings.Trim(seg, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a list index", seg)
	}
	i, _ := strconv.Atoi(seg)
	if i > max {
		return 0, fmt.Errorf("index %q out of range", seg)
	}
	return i, nil
}

// pointer splits an RFC 6901 JSON pointer into its unescaped segments.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer must start with /")
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 == len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
				return nil, fmt.Errorf("invalid escape in JSON pointer segment %q: ~ must be followed by 0 or 1", s)
			}
		}
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, nil
}

// ValueNode converts a Go value to a block-style YAML node through its JSON form.
func ValueNode(v any) (*yaml.Node, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	n := doc.Content[0]
	blockStyle(n)
	return n, nil
}

// blockStyle drops the flow style and quotes of the JSON form, but keeps a string double-quoted
// where a YAML 1.1 reader would take it for something else: kubectl and the API server read YAML
// 1.1, where yes, on and 1:30 are a bool and a number.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && isYAML11Special(n.Value) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// yaml11Sexagesimal matches YAML 1.1's base 60 numbers, such as 1:30 (90).
var yaml11Sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// isYAML11Special reports whether YAML 1.1 reads a plain s as a bool or a number where
// YAML 1.2 reads a string.
func isYAML11Special(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return true
	}
	return yaml11Sexagesimal.MatchString(s)
}

// Encode writes a node as YAML with two-space indentation.
func Encode(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
