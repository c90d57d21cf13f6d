package operatorcr

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Projection is a custom resource projected onto one StatefulSet its operator makes.
type Projection struct {
	Kind *Kind
	// Set is the index of the entry of Kind.Sets this StatefulSet is made from, or -1.
	Set int
	// StatefulSet holds what the operator copies from the resource: replicas, the pod
	// template's selector labels and placement fields, and the claim templates. Everything
	// else the operator adds (containers, volumes, probes) is left out: no rule reads it.
	StatefulSet *appsv1.StatefulSet
	// LabelsKnown is false when the pod labels depend on something not in the resource (a
	// label the operator copies from another resource that is absent here): findings are
	// then warnings only.
	LabelsKnown bool
	// OwnBudget says whether the operator makes a PodDisruptionBudget over these pods itself.
	OwnBudget bool
	// Held, when not empty, says why the fields under Kind.Inherited are not judged strictly
	// nor fixed: the operator takes them from another resource.
	Held string
	// typed is StatefulSet as JSON, to compare with the engine's result.
	typed map[string]any
	// obj is the resource; bound maps StatefulSet paths to its fields for this projection.
	obj   map[string]any
	bound []Field
}

// Project builds the StatefulSets the operator will make for obj, a custom resource of kind k
// decoded from JSON: one, or one per entry of k.Sets. An error names the field that cannot be
// read.
func Project(k *Kind, obj map[string]any) ([]*Projection, error) {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("metadata.name: a %s needs a name", k.Kind)
	}
	if k.Sets == "" {
		p, err := project(k, obj, name, -1, "")
		if err != nil {
			return nil, err
		}
		return []*Projection{p}, nil
	}
	v, ok := get(obj, k.Sets)
	if !ok || v == nil {
		return nil, nil
	}
	sets, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("%s: must be a list", k.Sets)
	}
	var out []*Projection
	for i, s := range sets {
		m, _ := s.(map[string]any)
		setName, _ := m[k.SetName].(string)
		if setName == "" {
			return nil, fmt.Errorf("%s[%d].%s: every entry needs a name", k.Sets, i, k.SetName)
		}
		p, err := project(k, obj, name, i, setName)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// subst fills the placeholders of a table string for one projection.
type subst struct {
	name, set string
	index     int
	labels    map[string]any
	unknown   bool // a {label:…} placeholder named a label the resource lacks
}

func (s *subst) str(v string) string {
	v = strings.ReplaceAll(v, "{name}", s.name)
	v = strings.ReplaceAll(v, "{set}", s.set)
	for {
		i := strings.Index(v, "{label:")
		if i < 0 {
			return v
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			return v
		}
		key := v[i+len("{label:") : i+j]
		val, ok := s.labels[key].(string)
		if !ok || val == "" {
			s.unknown = true
		}
		v = v[:i] + val + v[i+j+1:]
	}
}

// path fills the "[]" of a table path with the set's index.
func (s *subst) path(p string) string {
	if s.index < 0 {
		return p
	}
	return strings.ReplaceAll(p, "[]", "["+strconv.Itoa(s.index)+"]")
}

// value fills the placeholders of the strings in a default value (a fresh copy).
func (s *subst) value(v any) any {
	switch c := v.(type) {
	case string:
		return s.str(c)
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[k] = s.value(e)
		}
		return m
	case []any:
		l := make([]any, len(c))
		for i, e := range c {
			l[i] = s.value(e)
		}
		return l
	}
	return v
}

func project(k *Kind, obj map[string]any, name string, index int, setName string) (*Projection, error) {
	meta, _ := obj["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	s := &subst{name: name, set: setName, index: index, labels: labels}
	selector := map[string]any{}
	for key, v := range k.Selector {
		selector[key] = s.str(v)
	}
	podLabels := map[string]any{}
	podLabelsPath := s.path(k.PodLabels)
	if extra, ok := get(obj, podLabelsPath); ok && extra != nil {
		m, isMap := extra.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s: must be a map of labels", podLabelsPath)
		}
		for key, v := range m {
			podLabels[key] = v
		}
	}
	for key, v := range selector {
		podLabels[key] = v // the operator's selector labels win
	}
	stsMeta := map[string]any{"name": s.str(k.StatefulSet)}
	if ns, ok := meta["namespace"]; ok {
		stsMeta["namespace"] = ns
	}
	if labels != nil {
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
	p := &Projection{Kind: k, Set: index, obj: obj, LabelsKnown: k.LabelsKnown, OwnBudget: k.OwnBudget}
	if k.BudgetIf != nil {
		p.OwnBudget = k.BudgetIf(obj)
	}
	if k.Inherited != "" {
		if v, ok := get(obj, k.Inherited); !ok || v == nil {
			p.Held = k.InheritedFrom
		}
	}
	overrideOnly := func(r string) bool { return k.Override != "" && strings.HasPrefix(r, k.Override+".") }
	for _, f := range k.Fields {
		b := Field{StatefulSet: f.StatefulSet, Resource: s.path(f.Resource)}
		v, ok := get(obj, b.Resource)
		if overrideOnly(b.Resource) {
			v, ok = nil, false // the override is merged over the operator's value below
		}
		switch {
		case ok && v != nil:
			set(sts, f.StatefulSet, relabel(v, k.PodNameLabel, statefulSetPodName))
		case (!ok || v == nil) && f.Default != nil && f.defaultApplies(obj, annotations, s):
			set(sts, f.StatefulSet, s.value(f.Default))
		}
		p.bound = append(p.bound, b)
	}
	if k.ClaimTemplate != "" {
		path := s.path(k.ClaimTemplate)
		if v, ok := get(obj, path); ok && v != nil {
			tmpl, isMap := v.(map[string]any)
			if !isMap {
				return nil, fmt.Errorf("%s: must be a PersistentVolumeClaim template", path)
			}
			claimMeta := map[string]any{"name": s.str(k.ClaimName)}
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
			p.bound = append(p.bound, Field{StatefulSet: "spec.volumeClaimTemplates[0].spec", Resource: path + ".spec"},
				Field{StatefulSet: "spec.volumeClaimTemplates[0]", Resource: path, PathOnly: true})
		}
	}
	if k.Claims != nil {
		claims, fields, err := k.Claims(obj, name)
		if err != nil {
			return nil, err
		}
		if len(claims) > 0 {
			set(sts, "spec.volumeClaimTemplates", claims)
		}
		p.bound = append(p.bound, fields...)
	}
	if podLabelsPath != "" {
		p.bound = append(p.bound, Field{StatefulSet: "spec.template.metadata.labels", Resource: podLabelsPath, PathOnly: true})
	}
	if k.Override != "" {
		if err := p.applyOverride(sts); err != nil {
			return nil, err
		}
	}
	if s.unknown {
		p.LabelsKnown = false
	}
	data, err := json.Marshal(sts)
	if err != nil {
		return nil, err
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("%s: %v", p.describeJSONError(err), err)
	}
	typed, err := stsMap(out)
	if err != nil {
		return nil, err
	}
	p.StatefulSet, p.typed = out, typed
	return p, nil
}

// defaultApplies reports whether the operator uses f.Default for this resource.
func (f *Field) defaultApplies(obj, annotations map[string]any, s *subst) bool {
	if f.DefaultIf != "" {
		v, _ := get(obj, s.path(f.DefaultIf))
		if v != true {
			return false
		}
	}
	if f.DefaultUnlessAnnotation != "" {
		if v, _ := annotations[f.DefaultUnlessAnnotation].(string); strings.TrimSpace(v) == "true" {
			return false
		}
	}
	return true
}

// applyOverride merges the resource's StatefulSet override into sts as the operator does
// (a strategic merge patch: lists with a merge key merge by it, other lists are replaced, maps
// merge), and points every bound field the override sets at the override.
func (p *Projection) applyOverride(sts map[string]any) error {
	k := p.Kind
	v, ok := get(p.obj, k.Override)
	if !ok || v == nil {
		return nil
	}
	ov, isMap := v.(map[string]any)
	if !isMap {
		return fmt.Errorf("%s: must be a StatefulSet override", k.Override)
	}
	merged, err := strategicpatch.StrategicMergeMapPatch(sts, deepCopy(ov), &appsv1.StatefulSet{})
	if err != nil {
		return fmt.Errorf("%s: %v", k.Override, err)
	}
	result := make(map[string]any, len(merged)) // merged may be sts itself, changed in place
	for key, v := range merged {
		result[key] = v
	}
	clear(sts)
	for key, v := range result {
		sts[key] = v
	}
	for i, b := range p.bound {
		if strings.HasPrefix(b.Resource, k.Override+".") {
			continue
		}
		if r, ok := p.overridden(b.StatefulSet); ok {
			p.bound[i].Resource = r
		}
	}
	return nil
}

// overridden returns the override's path for a StatefulSet path when the override sets it, or
// replaces a list that holds it.
func (p *Projection) overridden(stsPath string) (string, bool) {
	ov := p.Kind.Override
	if v, ok := get(p.obj, ov+"."+stsPath); ok && v != nil {
		return ov + "." + stsPath, true
	}
	st := steps(stsPath)
	for n := len(st) - 1; n > 0; n-- {
		prefix := join(st[:n])
		if v, ok := get(p.obj, ov+"."+prefix); ok {
			if _, isList := v.([]any); isList {
				return ov + "." + stsPath, true
			}
		}
	}
	return "", false
}

// describeJSONError names the resource field of a type error in the projected StatefulSet.
func (p *Projection) describeJSONError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		if r, ok := p.Path(te.Field); ok {
			return r
		}
	}
	return "spec"
}

// Path maps a field path of the projected StatefulSet to the resource's. ok is false when the
// resource has no field for it; the path is then "spec".
func (p *Projection) Path(stsPath string) (string, bool) {
	m := append([]Field{}, p.bound...)
	sort.SliceStable(m, func(i, j int) bool { return len(m[i].StatefulSet) > len(m[j].StatefulSet) })
	for _, f := range m {
		if stsPath == f.StatefulSet {
			return f.Resource, true
		}
		if rest, ok := strings.CutPrefix(stsPath, f.StatefulSet); ok && (rest[0] == '.' || rest[0] == '[') {
			return f.Resource + rest, true
		}
	}
	if p.Kind.Override != "" && strings.HasPrefix(stsPath, "spec.") {
		return p.Kind.Override + "." + stsPath, true
	}
	return "spec", false
}

// IsHeld reports whether a resource path is one Held applies to.
func (p *Projection) IsHeld(resourcePath string) bool {
	return p.Held != "" && (resourcePath == p.Kind.Inherited || strings.HasPrefix(resourcePath, p.Kind.Inherited+"."))
}

// Patch turns fixed, the engine's version of the projected StatefulSet, into a patch of the
// resource: the same changes at the fields the operator copies them from. A field the resource
// holds as it is copied gets the finer changes; one the operator defaults, renames or merges
// gets the engine's whole value, parents added as needed. Unmapped lists the StatefulSet paths
// the engine changed that the resource has no field for; held lists those left alone because
// the operator takes them from another resource.
func (p *Projection) Patch(fixed *appsv1.StatefulSet) (ops []jsonpatch.Operation, unmapped, held []string, err error) {
	after, err := stsMap(fixed)
	if err != nil {
		return nil, nil, nil, err
	}
	before := p.typed
	work := deepCopy(p.obj)
	var writable []Field
	for _, f := range p.bound {
		if !f.PathOnly {
			writable = append(writable, f)
		}
	}
	for _, f := range writable {
		b, inBefore := get(before, f.StatefulSet)
		a, inAfter := get(after, f.StatefulSet)
		if reflect.DeepEqual(b, a) {
			continue
		}
		if p.IsHeld(f.Resource) {
			held = append(held, f.Resource)
			continue
		}
		ptr := pointer(f.Resource)
		r, inResource := get(work, f.Resource)
		switch {
		case !inAfter:
			if inResource {
				ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: ptr})
				del(work, f.Resource)
			}
		case inBefore && inResource && jsonEqual(r, b):
			bj, _ := json.Marshal(b)
			aj, _ := json.Marshal(a)
			sub, err := jsonpatch.CreatePatch(bj, aj)
			if err != nil {
				return nil, nil, nil, err
			}
			for _, op := range sub {
				op.Path = ptr + op.Path
				ops = append(ops, op)
			}
			set(work, f.Resource, a)
		default:
			ops = append(ops, p.addAt(work, f.Resource, a))
		}
	}
	// What else changed: the same comparison with the mapped fields taken out.
	rest := func(m map[string]any) []byte {
		c := deepCopy(m)
		for _, f := range writable {
			del(c, f.StatefulSet)
		}
		pruneEmpty(c) // an affinity whose bound parts were taken out
		data, _ := json.Marshal(c)
		return data
	}
	others, err := jsonpatch.CreatePatch(rest(before), rest(after))
	if err != nil {
		return nil, nil, nil, err
	}
	for _, op := range others {
		unmapped = append(unmapped, op.Path)
	}
	for i := range ops {
		ops[i].Value = relabel(ops[i].Value, statefulSetPodName, p.Kind.PodNameLabel)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	return ops, unmapped, held, nil
}

// addAt is the operation that sets path to v in m, adding the parents m lacks (each started
// from the Kind's skeleton for it, when there is one), and applies it to m.
func (p *Projection) addAt(m map[string]any, path string, v any) jsonpatch.Operation {
	st := steps(path)
	n := len(st)
	for i := 1; i < len(st); i++ {
		if x, ok := get(m, join(st[:i])); !ok || x == nil {
			n = i // st[:i] is the first missing parent
			break
		}
	}
	val := v
	for i := len(st) - 1; i >= n; i-- {
		parent := map[string]any{}
		if sk, ok := p.Kind.Skeletons[listPattern.ReplaceAllString(join(st[:i]), "[]")]; ok {
			parent = deepCopy(sk)
		}
		parent[st[i]] = val
		val = parent
	}
	set(m, join(st[:n]), val)
	return jsonpatch.Operation{Operation: "add", Path: pointerOf(st[:n]), Value: val}
}

// listPattern matches the list indexes of a path, to look it up in the table.
var listPattern = regexp.MustCompile(`\[[0-9]+\]`)

func jsonEqual(a, b any) bool {
	aj, err1 := json.Marshal(a)
	bj, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var x, y any
	_ = json.Unmarshal(aj, &x)
	_ = json.Unmarshal(bj, &y)
	return reflect.DeepEqual(x, y)
}

// statefulSetPodName is the label the StatefulSet controller puts on its pods.
const statefulSetPodName = "statefulset.kubernetes.io/pod-name"

// relabel renames the label from to to in the label selectors of v (a requirement's key, a
// matchLabels key, or the value itself), in a copy; an empty from or to changes nothing.
func relabel(v any, from, to string) any {
	if from == "" || to == "" {
		return v
	}
	switch c := v.(type) {
	case string:
		if c == from {
			return to
		}
		return c
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			if k == from {
				k = to
			}
			m[k] = relabel(e, from, to)
		}
		return m
	case []any:
		l := make([]any, len(c))
		for i, e := range c {
			l[i] = relabel(e, from, to)
		}
		return l
	}
	return v
}

// pruneEmpty removes the empty maps in m, innermost first.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if c, ok := v.(map[string]any); ok {
			pruneEmpty(c)
			if len(c) == 0 {
				delete(m, k)
			}
		}
	}
}

// stsMap is a StatefulSet as JSON, without the empty status its claim templates carry when
// typed: what a resource would hold.
func stsMap(sts *appsv1.StatefulSet) (map[string]any, error) {
	m, err := toMap(sts)
	if err != nil {
		return nil, err
	}
	if claims, ok := get(m, "spec.volumeClaimTemplates"); ok {
		list, _ := claims.([]any)
		for _, c := range list {
			if cm, ok := c.(map[string]any); ok {
				delete(cm, "status")
			}
		}
	}
	return m, nil
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
func pointer(path string) string { return pointerOf(steps(path)) }

func pointerOf(st []string) string {
	var b strings.Builder
	for _, s := range st {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// steps splits a dotted path into keys and list indexes; a bracketed step may hold dots
// (metadata.annotations[rabbitmq.com/x]).
func steps(path string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			j := strings.IndexByte(path[i:], ']')
			if j < 0 {
				out = append(out, path[i:])
				return out
			}
			out = append(out, path[i+1:i+j])
			i += j
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// join is the inverse of steps for the paths this package builds.
func join(st []string) string {
	var b strings.Builder
	for i, s := range st {
		if _, err := strconv.Atoi(s); err == nil || strings.Contains(s, ".") {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
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

// set sets a value at a path, creating the maps on the way; an index step sets an existing
// element, or appends when it is one past the end.
func set(m map[string]any, path string, v any) {
	st := steps(path)
	var parent any = m
	for n, key := range st {
		last := n == len(st)-1
		switch c := parent.(type) {
		case map[string]any:
			if last {
				c[key] = v
				return
			}
			next := c[key]
			if _, ok := next.(map[string]any); !ok {
				if _, ok := next.([]any); !ok {
					next = map[string]any{}
					if _, err := strconv.Atoi(st[n+1]); err == nil {
						next = []any{}
					}
					c[key] = next
				}
			}
			parent = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i > len(c) {
				return
			}
			if i == len(c) {
				// Appending: rebuild the parent with the longer list.
				var elem any = v
				if !last {
					elem = map[string]any{}
				}
				c = append(c, elem)
				set(m, join(st[:n]), c)
				if last {
					return
				}
			}
			if last {
				c[i] = v
				return
			}
			if _, ok := c[i].(map[string]any); !ok {
				c[i] = map[string]any{}
			}
			parent = c[i]
		default:
			return
		}
	}
}

// del removes the value at a path, when the path exists.
func del(m map[string]any, path string) {
	st := steps(path)
	parent, ok := any(m), true
	if len(st) > 1 {
		parent, ok = get(m, join(st[:len(st)-1]))
	}
	if !ok {
		return
	}
	last := st[len(st)-1]
	switch c := parent.(type) {
	case map[string]any:
		delete(c, last)
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(c) {
			c[i] = nil
		}
	}
}
