package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
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
// a review the API server would not send is decoded the generic way, which reports it.
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
// the resource is not found before the request's object, or the JSON is not what a review looks
// like; op is empty when the operation is not found before it.
func peekRequest(body []byte) (gvr metav1.GroupVersionResource, op admissionv1.Operation, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if !enterObject(dec) || !findKey(dec, "request") || !enterObject(dec) {
		return gvr, op, false
	}
	// A member named twice would make the peek and the decoder disagree; the callers check.
	for found := false; ; {
		k, ok := nextKey(dec, "resource", "operation")
		switch {
		case !ok:
			return gvr, op, found
		case k == "resource":
			if dec.Decode(&gvr) != nil {
				return gvr, op, false
			}
			found = true
		default:
			if dec.Decode(&op) != nil {
				return gvr, op, false
			}
		}
		if found && op != "" {
			return gvr, op, true
		}
	}
}

func enterObject(dec *json.Decoder) bool {
	t, err := dec.Token()
	return err == nil && t == json.Delim('{')
}

// findKey advances to the value of key in the current object, skipping small members before it;
// it gives up at the object or oldObject, whose size is what the peek is meant to avoid.
func findKey(dec *json.Decoder, key string) bool {
	_, ok := nextKey(dec, key)
	return ok
}

// nextKey advances to the value of the first of keys in the current object, skipping the
// members before it, and says which it is; ok is false at the end of the object, at the object
// or the oldObject, or on anything that is not JSON.
func nextKey(dec *json.Decoder, keys ...string) (string, bool) {
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, ok := t.(string)
		if !ok {
			return "", false
		}
		if slices.Contains(keys, k) {
			return k, true
		}
		if k == "object" || k == "oldObject" {
			return "", false
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
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
