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
// when the next segment is "-", a mapping otherwise. node is taken to be the whole document; see
// ApplyPatchIn for an object inside a larger one, such as an item of a List.
//
// The patch is applied to the document's JSON meaning: a path through an alias (*name) or a key
// merged in with << patches a copy put in its place, never the anchored original that other parts
// of the document share. Where the patch changes an anchored node itself (or one holding it), or
// replaces or removes one, every alias to it is first replaced by a copy of what it means, so
// that nothing but the patched fields changes meaning. Operations before a failing one stay
// applied.
func ApplyPatch(node *yaml.Node, ops []jsonpatch.Operation) error {
	return ApplyPatchIn(node, node, ops)
}

// ApplyPatchIn applies ops to node, an object inside the YAML document doc (an item of a List,
// or doc's own object), as ApplyPatch does. Aliases anywhere in doc to a node the patch changes
// are replaced by copies first, so patching one object never changes another.
func ApplyPatchIn(doc, node *yaml.Node, ops []jsonpatch.Operation) error {
	node = rootOf(node)
	anc := ancestors(doc, node)
	for _, op := range ops {
		if err := unshare(doc, node, anc, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Operation, op.Path, err)
		}
		if err := applyOp(node, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Operation, op.Path, err)
		}
	}
	return nil
}

// ancestors returns the nodes of doc that hold node, outermost first, without following aliases.
// A List item is found directly under the List's items; anything else by a search.
func ancestors(doc, node *yaml.Node) []*yaml.Node {
	if doc == node {
		return nil
	}
	top := rootOf(doc)
	var path []*yaml.Node
	if doc != top {
		path = append(path, doc)
	}
	if top == node {
		return path
	}
	if top.Kind == yaml.MappingNode {
		for i := 1; i < len(top.Content); i += 2 {
			v := top.Content[i]
			if v == node {
				return append(path, top)
			}
			if v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					if e == node {
						return append(path, top, v)
					}
				}
			}
		}
	}
	var search func(n *yaml.Node, path []*yaml.Node) []*yaml.Node
	search = func(n *yaml.Node, path []*yaml.Node) []*yaml.Node {
		if n == node {
			return path
		}
		if n.Kind == yaml.AliasNode {
			return nil
		}
		for _, c := range n.Content {
			if p := search(c, append(path, n)); p != nil {
				return p
			}
		}
		return nil
	}
	return search(doc, nil)
}

// unshare finds the anchored nodes that op changes: node and its ancestors, the nodes on the
// path, and every anchor inside a value that op replaces or removes. When there are any, it
// replaces every alias to them in doc by a copy of its meaning, and drops their anchors.
func unshare(doc, node *yaml.Node, anc []*yaml.Node, op jsonpatch.Operation) error {
	segs, err := pointer(op.Path)
	if err != nil || len(segs) == 0 {
		return nil // applyOp reports it
	}
	shared := map[*yaml.Node]bool{}
	for _, a := range anc {
		if a.Anchor != "" {
			shared[a] = true
		}
	}
	n := node
	for i, seg := range segs {
		if n.Anchor != "" {
			shared[n] = true
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for j := 0; j+1 < len(n.Content); j += 2 {
				if !isMergeKey(n.Content[j]) && n.Content[j].Value == seg {
					next = n.Content[j+1]
					break
				}
			}
		case yaml.SequenceNode:
			if idx, err := index(seg, len(n.Content)-1); err == nil {
				next = n.Content[idx]
			}
		}
		if next == nil || next.Kind == yaml.AliasNode {
			break // created, copied from a merge key, or copied from the alias: nothing shared changes
		}
		if i == len(segs)-1 {
			if op.Operation != "add" || n.Kind == yaml.MappingNode {
				anchorsIn(next, shared) // the old value is dropped
			}
			break
		}
		n = next
	}
	if len(shared) == 0 {
		return nil
	}
	budget := maxAliasExpansion
	if err := materialize(doc, shared, &budget); err != nil {
		return err
	}
	for a := range shared {
		a.Anchor = ""
	}
	return nil
}

// anchorsIn adds the anchored nodes of a subtree to set, without following aliases.
func anchorsIn(n *yaml.Node, set map[*yaml.Node]bool) {
	if n.Anchor != "" {
		set[n] = true
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	for _, c := range n.Content {
		anchorsIn(c, set)
	}
}

// materialize replaces every alias in n to a node of targets by a full copy of what it means.
func materialize(n *yaml.Node, targets map[*yaml.Node]bool, budget *int) error {
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			if targets[c.Alias] {
				cp, err := expandCopy(c.Alias, budget, 0)
				if err != nil {
					return err
				}
				cp.HeadComment, cp.LineComment, cp.FootComment = c.HeadComment, c.LineComment, c.FootComment
				n.Content[i] = cp
			}
			continue
		}
		if err := materialize(c, targets, budget); err != nil {
			return err
		}
	}
	return nil
}

// expandCopy copies a subtree with every alias in it expanded and no anchors, so that the copy
// means the same wherever it is put, whatever becomes of the anchors.
func expandCopy(n *yaml.Node, budget *int, depth int) (*yaml.Node, error) {
	n = resolve(n)
	if *budget--; *budget < 0 || depth > maxDepth {
		return nil, fmt.Errorf("the patch changes a node that aliases elsewhere use, and copying it for them is too large; edit it by hand")
	}
	cp := *n
	cp.Anchor = ""
	if n.Content != nil {
		cp.Content = make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			e, err := expandCopy(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			cp.Content[i] = e
		}
	}
	return &cp, nil
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
