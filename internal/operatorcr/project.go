package operatorcr

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"
)

// Projection is a custom resource projected onto the StatefulSet its operator makes.
type Projection struct {
	Kind *Kind
	// StatefulSet holds what the operator copies from the resource: replicas, the pod
	// template's selector labels and placement fields, and the claim template. Everything
	// else the operator adds (containers, volumes, probes) is left out: no rule reads it.
	StatefulSet *appsv1.StatefulSet
	// typed is StatefulSet as JSON, to compare with the engine's result.
	typed map[string]any
}

// Project builds the StatefulSet the operator will make for obj, a custom resource of kind k
// decoded from JSON. An error names the field that cannot be read.
func Project(k *Kind, obj map[string]any) (*Projection, error) {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("metadata.name: a %s needs a name", k.Kind)
	}
	selector := map[string]any{}
	for key, v := range k.Selector {
		selector[key] = named(v, name)
	}
	podLabels := map[string]any{}
	if extra, ok := get(obj, k.PodLabels); ok {
		m, isMap := extra.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s: must be a map of labels", k.PodLabels)
		}
		for key, v := range m {
			podLabels[key] = v
		}
	}
	for key, v := range selector {
		podLabels[key] = v // the operator's selector labels win
	}
	stsMeta := map[string]any{"name": named(k.StatefulSet, name)}
	if ns, ok := meta["namespace"]; ok {
		stsMeta["namespace"] = ns
	}
	if labels, ok := meta["labels"]; ok {
		stsMeta["labels"] = labels
	}
	sts := map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": stsMeta,
		"spec": map[string]any{
			"replicas": k.DefaultReplicas,
			"selector": map[string]any{"matchLabels": selector},
			"template": map[string]any{
				"metadata": map[string]any{"labels": podLabels},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": strings.ToLower(k.Kind)}}},
			},
		},
	}
	for _, f := range k.Fields {
		if v, ok := get(obj, f.Resource); ok && v != nil {
			set(sts, f.StatefulSet, v)
		}
	}
	if k.ClaimTemplate != "" {
		if v, ok := get(obj, k.ClaimTemplate); ok && v != nil {
			tmpl, isMap := v.(map[string]any)
			if !isMap {
				return nil, fmt.Errorf("%s: must be a PersistentVolumeClaim template", k.ClaimTemplate)
			}
			claimMeta := map[string]any{"name": named(k.ClaimName, name)}
			if m, ok := tmpl["metadata"].(map[string]any); ok {
				for key, v := range m {
					claimMeta[key] = v
				}
			}
			claim := map[string]any{"metadata": claimMeta}
			if spec, ok := tmpl["spec"]; ok {
				claim["spec"] = spec
			}
			set(sts, "spec.volumeClaimTemplates", []any{claim})
		}
	}
	data, err := json.Marshal(sts)
	if err != nil {
		return nil, err
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("%s: %v", describeJSONError(err, k), err)
	}
	typed, err := toMap(out)
	if err != nil {
		return nil, err
	}
	return &Projection{Kind: k, StatefulSet: out, typed: typed}, nil
}

// describeJSONError names the resource field of a type error in the projected StatefulSet.
func describeJSONError(err error, k *Kind) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		if p, ok := k.resourcePath(te.Field); ok {
			return p
		}
	}
	return "spec"
}

// mappings are the StatefulSet → resource path prefixes, longest first.
func (k *Kind) mappings() []Field {
	m := append([]Field{}, k.Fields...)
	if k.ClaimTemplate != "" {
		m = append(m, Field{"spec.volumeClaimTemplates[0]", k.ClaimTemplate})
	}
	if k.PodLabels != "" {
		m = append(m, Field{"spec.template.metadata.labels", k.PodLabels})
	}
	sort.SliceStable(m, func(i, j int) bool { return len(m[i].StatefulSet) > len(m[j].StatefulSet) })
	return m
}

// resourcePath maps a StatefulSet field path to the resource field the operator copies it from.
func (k *Kind) resourcePath(stsPath string) (string, bool) {
	for _, f := range k.mappings() {
		if stsPath == f.StatefulSet {
			return f.Resource, true
		}
		if rest, ok := strings.CutPrefix(stsPath, f.StatefulSet); ok && (rest[0] == '.' || rest[0] == '[') {
			return f.Resource + rest, true
		}
	}
	return "", false
}

// Path maps a field path of the projected StatefulSet to the resource's. ok is false when the
// resource has no field for it; the path is then "spec".
func (p *Projection) Path(stsPath string) (string, bool) {
	if r, ok := p.Kind.resourcePath(stsPath); ok {
		return r, true
	}
	return "spec", false
}

// Patch turns fixed, the engine's version of the projected StatefulSet, into a patch of the
// resource: the same changes at the fields the operator copies them from. Unmapped lists the
// StatefulSet paths the engine changed that the resource has no field for.
func (p *Projection) Patch(fixed *appsv1.StatefulSet) (ops []jsonpatch.Operation, unmapped []string, err error) {
	after, err := toMap(fixed)
	if err != nil {
		return nil, nil, err
	}
	before := p.typed
	writable := append([]Field{}, p.Kind.Fields...)
	if p.Kind.ClaimTemplate != "" && len(p.StatefulSet.Spec.VolumeClaimTemplates) > 0 {
		writable = append(writable, Field{"spec.volumeClaimTemplates[0].spec", p.Kind.ClaimTemplate + ".spec"})
	}
	for _, f := range writable {
		b, inBefore := get(before, f.StatefulSet)
		a, inAfter := get(after, f.StatefulSet)
		if reflect.DeepEqual(b, a) {
			continue
		}
		ptr := pointer(f.Resource)
		switch {
		case !inAfter:
			ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: ptr})
		case !inBefore:
			ops = append(ops, jsonpatch.Operation{Operation: "add", Path: ptr, Value: a})
		default:
			bj, _ := json.Marshal(b)
			aj, _ := json.Marshal(a)
			sub, err := jsonpatch.CreatePatch(bj, aj)
			if err != nil {
				return nil, nil, err
			}
			for _, op := range sub {
				op.Path = ptr + op.Path
				ops = append(ops, op)
			}
		}
	}
	// What else changed: the same comparison with the mapped fields taken out.
	rest := func(m map[string]any) []byte {
		c := deepCopy(m)
		for _, f := range writable {
			del(c, f.StatefulSet)
		}
		data, _ := json.Marshal(c)
		return data
	}
	others, err := jsonpatch.CreatePatch(rest(before), rest(after))
	if err != nil {
		return nil, nil, err
	}
	for _, op := range others {
		unmapped = append(unmapped, op.Path)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	return ops, unmapped, nil
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(data, &m)
	return m, err
}

func deepCopy(m map[string]any) map[string]any {
	data, _ := json.Marshal(m)
	var c map[string]any
	_ = json.Unmarshal(data, &c)
	return c
}

// pointer turns a dotted path such as spec.volumeClaimTemplates[0].spec into a JSON pointer.
func pointer(path string) string {
	var b strings.Builder
	for _, s := range steps(path) {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// steps splits a dotted path into keys and list indexes.
func steps(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, part)
				break
			}
			if i > 0 {
				out = append(out, part[:i])
			}
			j := strings.IndexByte(part, ']')
			if j < i {
				out = append(out, part[i:])
				break
			}
			out = append(out, part[i+1:j])
			part = part[j+1:]
		}
	}
	return out
}

func get(m map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	var cur any = m
	for _, s := range steps(path) {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// set sets a value at a path of maps, creating the maps on the way.
func set(m map[string]any, path string, v any) {
	s := steps(path)
	cur := m
	for _, key := range s[:len(s)-1] {
		next, ok := cur[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[key] = next
		}
		cur = next
	}
	cur[s[len(s)-1]] = v
}

// del removes the value at a path, when the path exists.
func del(m map[string]any, path string) {
	s := steps(path)
	var parent any = m
	for _, key := range s[:len(s)-1] {
		v, ok := get(map[string]any{"x": parent}, "x."+key)
		if !ok {
			return
		}
		parent = v
	}
	last := s[len(s)-1]
	switch c := parent.(type) {
	case map[string]any:
		delete(c, last)
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(c) {
			c[i] = nil
		}
	}
}
