package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// decodeReview decodes an AdmissionReview. For a request on a resource Stowage handles (not a
// subresource) it decodes the object and the old object into their Go types in the same pass
// and puts them in Object.Object and OldObject.Object, leaving Raw empty. Decoding them as
// RawExtensions first and then again from Raw scanned every object three more times (the
// RawExtension's skip, then the second decode's validity check and decode): about a quarter of
// the handler's CPU on the largest corpus StatefulSet. Anything else, and a review whose
// resource is not where the API server puts it (before the object), is decoded as before.
//
// A StatefulSet's CREATE is decoded without what the policy never reads on a create (see
// createdStatefulSet).
func decodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	switch gvr, op, ok := peekRequest(body); {
	case !ok:
	case gvr == statefulSetsGVR && op == admissionv1.Create:
		if r, ok := decodeTyped(body, gvr, (*createdStatefulSet).statefulSet); ok && r.Request.Operation == admissionv1.Create {
			return r, nil
		}
		// Not what the peek said (a member named twice): decode it whole.
		if r, ok := decodeTyped(body, gvr, typed[appsv1.StatefulSet]); ok {
			return r, nil
		}
	case gvr == statefulSetsGVR:
		if r, ok := decodeTyped(body, gvr, typed[appsv1.StatefulSet]); ok {
			return r, nil
		}
	case gvr == claimsGVR:
		if r, ok := decodeTyped(body, gvr, typed[corev1.PersistentVolumeClaim]); ok {
			return r, nil
		}
	case gvr == budgetsGVR:
		if r, ok := decodeTyped(body, gvr, typed[policyv1.PodDisruptionBudget]); ok {
			return r, nil
		}
	}
	review := &admissionv1.AdmissionReview{}
	if err := decodeJSON(body, review); err != nil {
		return nil, err
	}
	return review, nil
}

// createdStatefulSet is a StatefulSet as decodeReview reads it from a CREATE: the pod template's
// containers, init containers and ephemeral containers, and the managed fields, are skipped
// (the body was checked to be JSON as a whole, and each skipped value to be an array or null)
// instead of decoded. No rule reads them, and the mutating phase's patch touches only the
// affinity, the topology spread and the claim templates, so a create is decided the same
// (TestCreateDecodedWithoutContainersIsDecidedTheSame holds every rule to that over the corpus).
// They are a StatefulSet's bulk: skipping them takes about 30% off decoding the largest corpus
// StatefulSet, and its copies in the policy get cheaper too. An UPDATE is decoded whole: the
// mutating phase compares the whole object with the stored one (keepStoredManagedFields).
//
// What is inside a skipped array is not looked at: an array of the wrong elements (say
// "containers":[1]), which the whole decode refuses (400 from the validating endpoint), is
// decided here like any other. The API server cannot send one: it decodes the object into its
// type before admission and sends that re-encoded, so only a caller other than the API server
// can, and the answer then concerns nothing stored.
//
// The outer fields shadow the embedded ones of the same JSON name (encoding/json takes the
// shallower field).
type createdStatefulSet struct {
	appsv1.StatefulSet
	Metadata createdMeta `json:"metadata,omitempty"`
	Spec     struct {
		appsv1.StatefulSetSpec
		Template struct {
			corev1.PodTemplateSpec
			Spec struct {
				corev1.PodSpec
				Containers          skippedArray `json:"containers,omitempty"`
				InitContainers      skippedArray `json:"initContainers,omitempty"`
				EphemeralContainers skippedArray `json:"ephemeralContainers,omitempty"`
			} `json:"spec,omitempty"`
		} `json:"template"`
	} `json:"spec,omitempty"`
}

type createdMeta struct {
	metav1.ObjectMeta
	ManagedFields skippedArray `json:"managedFields,omitempty"`
}

// statefulSet is the StatefulSet decoded, without what was skipped.
func (c *createdStatefulSet) statefulSet() runtime.Object {
	s := c.StatefulSet
	s.ObjectMeta = c.Metadata.ObjectMeta
	s.Spec = c.Spec.StatefulSetSpec
	s.Spec.Template = c.Spec.Template.PodTemplateSpec
	s.Spec.Template.Spec = c.Spec.Template.Spec.PodSpec
	return &s
}

// skippedArray is a JSON array (or null) that is not decoded. Anything else is an error, so that
// such a review is decoded the generic way, which reports it.
type skippedArray struct{}

func (*skippedArray) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && (data[0] == '[' || data[0] == 'n') {
		return nil
	}
	return errors.New("not an array")
}

// typed is the object decoded as itself.
func typed[T any, PT interface {
	*T
	runtime.Object
}](obj *T) runtime.Object {
	return PT(obj)
}

// typedRequest is an AdmissionRequest whose objects decode straight into W: the outer fields
// shadow the embedded request's (encoding/json takes the shallower field).
type typedRequest[W any] struct {
	admissionv1.AdmissionRequest
	Object    *W `json:"object,omitempty"`
	OldObject *W `json:"oldObject,omitempty"`
}

type typedReview[W any] struct {
	metav1.TypeMeta
	Request  *typedRequest[W]               `json:"request,omitempty"`
	Response *admissionv1.AdmissionResponse `json:"response,omitempty"`
}

// decodeTyped decodes a review whose request names gvr, its objects as W, which obj turns into
// the object the admitter reads. ok is false when the body does not decode, or decodes to
// another resource or a subresource: the caller then decodes it the generic way, which also
// gives the error.
func decodeTyped[W any](body []byte, gvr metav1.GroupVersionResource, obj func(*W) runtime.Object) (*admissionv1.AdmissionReview, bool) {
	var tr typedReview[W]
	if decodeJSON(body, &tr) != nil || tr.Request == nil || tr.Request.Resource != gvr || tr.Request.SubResource != "" {
		return nil, false
	}
	r := &admissionv1.AdmissionReview{TypeMeta: tr.TypeMeta, Request: &tr.Request.AdmissionRequest, Response: tr.Response}
	r.Request.Object, r.Request.OldObject = runtime.RawExtension{}, runtime.RawExtension{}
	if tr.Request.Object != nil {
		r.Request.Object.Object = obj(tr.Request.Object)
	}
	if tr.Request.OldObject != nil {
		r.Request.OldObject.Object = obj(tr.Request.OldObject)
	}
	return r, true
}

// peekRequest reads request.resource and request.operation from the start of a review,
// stopping at the object: the API server writes them near the top, before it. ok is false when
// the resource is not found before the request's object, or the bytes are not what a review
// looks like; op is empty when the operation is not found before it.
//
// It is a hint, read without validating the JSON: decodeReview's decode checks the resource and
// the operation it reads, so a wrong hint (a member named twice, an escaped key, bytes that are
// not JSON) costs only the slower path, never a wrong decision. It replaced encoding/json's
// token reader, which cost about 40 µs a review, a fifth of the decode.
func peekRequest(body []byte) (gvr metav1.GroupVersionResource, op admissionv1.Operation, ok bool) {
	p := peeker{b: body}
	if !p.enterObject() || !p.findKey("request") || !p.enterObject() {
		return gvr, op, false
	}
	found := false
	for {
		key, ok := p.nextKey()
		if !ok || key == "object" || key == "oldObject" {
			return gvr, op, found
		}
		switch key {
		case "resource":
			if gvr, ok = p.resource(); !ok {
				return gvr, op, false
			}
			found = true
		case "operation":
			s, ok := p.plainString()
			if !ok {
				return gvr, op, false
			}
			op = admissionv1.Operation(s)
		default:
			if !p.skipValue() {
				return gvr, op, false
			}
		}
		if found && op != "" {
			return gvr, op, true
		}
		if !p.comma() {
			return gvr, op, found
		}
	}
}

// resource reads {"group":…,"version":…,"resource":…}, members in any order, each at most once.
func (p *peeker) resource() (gvr metav1.GroupVersionResource, ok bool) {
	if !p.enterObject() {
		return gvr, false
	}
	if p.consume('}') {
		return gvr, true
	}
	var seen [3]bool
	for {
		key, ok := p.nextKey()
		if !ok {
			return gvr, false
		}
		v, ok := p.plainString()
		if !ok {
			return gvr, false
		}
		var i int
		switch key {
		case "group":
			i, gvr.Group = 0, v
		case "version":
			i, gvr.Version = 1, v
		case "resource":
			i, gvr.Resource = 2, v
		default:
			return gvr, false
		}
		if seen[i] {
			return gvr, false
		}
		seen[i] = true
		if p.consume('}') {
			return gvr, true
		}
		if !p.comma() {
			return gvr, false
		}
	}
}

// plainString reads a string without escapes; one with escapes is not read.
func (p *peeker) plainString() (string, bool) {
	p.space()
	start := p.i
	if !p.skipString() {
		return "", false
	}
	v := p.b[start+1 : p.i-1]
	if bytes.IndexByte(v, '\\') >= 0 {
		return "", false
	}
	return string(v), true
}

// peeker walks the top of a JSON document without validating it (see peekRequest).
type peeker struct {
	b []byte
	i int
}

func (p *peeker) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// consume skips space and then c, and says whether c was there.
func (p *peeker) consume(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *peeker) enterObject() bool { return p.consume('{') }

// comma consumes the comma between two members; false at the end of the object, or on
// anything else.
func (p *peeker) comma() bool { return p.consume(',') }

// nextKey reads a member's name, as written (escapes are not decoded, so an escaped name does
// not match), and the colon after it.
func (p *peeker) nextKey() (string, bool) {
	p.space()
	start := p.i
	if !p.skipString() {
		return "", false
	}
	key := string(p.b[start+1 : p.i-1])
	return key, p.consume(':')
}

// findKey advances to the value of key in the current object, skipping the members before it.
func (p *peeker) findKey(key string) bool {
	for {
		k, ok := p.nextKey()
		if !ok {
			return false
		}
		if k == key {
			return true
		}
		if !p.skipValue() || !p.comma() {
			return false
		}
	}
}

// skipString skips a string, its escapes included.
func (p *peeker) skipString() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	for p.i++; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '\\':
			p.i++
		case '"':
			p.i++
			return true
		}
	}
	return false
}

// skipValue skips one value: a string, an object or array with everything in it, or a literal.
func (p *peeker) skipValue() bool {
	p.space()
	if p.i >= len(p.b) {
		return false
	}
	switch p.b[p.i] {
	case '"':
		return p.skipString()
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				if !p.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return true
				}
			}
			p.i++
		}
		return false
	default:
		start := p.i
		for p.i < len(p.b) && !strings.ContainsRune(",}] \t\n\r", rune(p.b[p.i])) {
			p.i++
		}
		return p.i > start
	}
}

// bodies recycles the buffers of small reviews: a decoded review keeps no reference to its body
// (strings and raw values are copied), and growing a buffer read by read cost about twice the
// body in garbage.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// readBody reads a review of at most limit bytes (more than limit bytes read means it is over),
// into a pooled buffer of the declared length when that is small. net/http reads no further than
// a declared length. Call release once the body is decoded.
func readBody(r *http.Request, limit int64) (body []byte, release func(), err error) {
	if r.ContentLength <= 0 || r.ContentLength > SmallBodyBytes || r.ContentLength > limit {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		return body, func() {}, err
	}
	buf := bodies.Get().(*[]byte)
	if int64(cap(*buf)) < r.ContentLength {
		*buf = make([]byte, r.ContentLength)
	}
	body = (*buf)[:r.ContentLength]
	if _, err := io.ReadFull(r.Body, body); err != nil {
		bodies.Put(buf)
		return nil, func() {}, err
	}
	return body, func() { bodies.Put(buf) }, nil
}
