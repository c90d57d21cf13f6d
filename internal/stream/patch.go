package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
)

// ApplyPatch applies RFC 6902 add, replace and remove operations to a YAML mapping node in
// place, keeping the comments, key order and layout of everything the patch does not touch.
// Parents that an add needs and the document lacks are created.
func ApplyPatch(node *yaml.Node, ops []jsonpatch.Operation) error {
	for _, op := range ops {
		if err := applyOp(node, op); err != nil {
			return fmt.Errorf("%s %s: %w", op.Operation, op.Path, err)
		}
	}
	return nil
}

func applyOp(root *yaml.Node, op jsonpatch.Operation) error {
	segs, err := pointer(op.Path)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("cannot patch the whole document")
	}
	var value *yaml.Node
	if op.Operation == "add" || op.Operation == "replace" {
		if value, err = ValueNode(op.Value); err != nil {
			return err
		}
	}
	parent := root
	for _, s := range segs[:len(segs)-1] {
		next, err := child(parent, s, op.Operation == "add")
		if err != nil {
			return err
		}
		parent = next
	}
	last := segs[len(segs)-1]
	switch parent.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value != last {
				continue
			}
			switch op.Operation {
			case "add", "replace":
				value.LineComment = parent.Content[i+1].LineComment
				parent.Content[i+1] = value
			case "remove":
				parent.Content = append(parent.Content[:i:i], parent.Content[i+2:]...)
			default:
				return fmt.Errorf("unsupported operation")
			}
			return nil
		}
		if op.Operation != "add" {
			return fmt.Errorf("no field %q", last)
		}
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, value)
		return nil
	case yaml.SequenceNode:
		idx := len(parent.Content)
		if last != "-" {
			if idx, err = strconv.Atoi(last); err != nil || idx < 0 || idx > len(parent.Content) {
				return fmt.Errorf("index %q out of range", last)
			}
		}
		switch op.Operation {
		case "add":
			parent.Content = append(parent.Content[:idx], append([]*yaml.Node{value}, parent.Content[idx:]...)...)
		case "replace", "remove":
			if idx == len(parent.Content) {
				return fmt.Errorf("index %q out of range", last)
			}
			if op.Operation == "replace" {
				parent.Content[idx] = value
			} else {
				parent.Content = append(parent.Content[:idx:idx], parent.Content[idx+1:]...)
			}
		default:
			return fmt.Errorf("unsupported operation")
		}
		return nil
	}
	return fmt.Errorf("parent is not an object or a list")
}

// child returns the node at one path segment, creating an empty mapping when create is set.
func child(n *yaml.Node, seg string, create bool) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				v := n.Content[i+1]
				if create && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", LineComment: v.LineComment}
				}
				return v, nil
			}
		}
		if !create {
			return nil, fmt.Errorf("no field %q", seg)
		}
		v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}, v)
		return v, nil
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, fmt.Errorf("index %q out of range", seg)
		}
		return n.Content[i], nil
	}
	return nil, fmt.Errorf("%q is inside a scalar", seg)
}

func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer must start with /")
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
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

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
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
