package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
func decodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	switch gvr, ok := peekResource(body); {
	case !ok:
	case gvr == statefulSetsGVR:
		if r, ok := decodeTyped[appsv1.StatefulSet](body, gvr); ok {
			return r, nil
		}
	case gvr == claimsGVR:
		if r, ok := decodeTyped[corev1.PersistentVolumeClaim](body, gvr); ok {
			return r, nil
		}
	case gvr == budgetsGVR:
		if r, ok := decodeTyped[policyv1.PodDisruptionBudget](body, gvr); ok {
			return r, nil
		}
	}
	review := &admissionv1.AdmissionReview{}
	if err := decodeJSON(body, review); err != nil {
		return nil, err
	}
	return review, nil
}

// typedRequest is an AdmissionRequest whose objects decode straight into T: the outer fields
// shadow the embedded request's (encoding/json takes the shallower field).
type typedRequest[T any] struct {
	admissionv1.AdmissionRequest
	Object    *T `json:"object,omitempty"`
	OldObject *T `json:"oldObject,omitempty"`
}

type typedReview[T any] struct {
	metav1.TypeMeta
	Request  *typedRequest[T]               `json:"request,omitempty"`
	Response *admissionv1.AdmissionResponse `json:"response,omitempty"`
}

// decodeTyped decodes a review whose request names gvr. ok is false when the body does not
// decode, or decodes to another resource or a subresource: the caller then decodes it the
// generic way, which also gives the error.
func decodeTyped[T any, PT interface {
	*T
	runtime.Object
}](body []byte, gvr metav1.GroupVersionResource) (*admissionv1.AdmissionReview, bool) {
	var tr typedReview[T]
	if decodeJSON(body, &tr) != nil || tr.Request == nil || tr.Request.Resource != gvr || tr.Request.SubResource != "" {
		return nil, false
	}
	r := &admissionv1.AdmissionReview{TypeMeta: tr.TypeMeta, Request: &tr.Request.AdmissionRequest, Response: tr.Response}
	r.Request.Object, r.Request.OldObject = runtime.RawExtension{}, runtime.RawExtension{}
	if tr.Request.Object != nil {
		r.Request.Object.Object = PT(tr.Request.Object)
	}
	if tr.Request.OldObject != nil {
		r.Request.OldObject.Object = PT(tr.Request.OldObject)
	}
	return r, true
}

// peekResource reads request.resource from the start of a review, stopping there: the API
// server writes it near the top, before the object. ok is false when it is not found before
// the request's object, or the JSON is not what a review looks like.
func peekResource(body []byte) (metav1.GroupVersionResource, bool) {
	var gvr metav1.GroupVersionResource
	dec := json.NewDecoder(bytes.NewReader(body))
	if !enterObject(dec) || !findKey(dec, "request") || !enterObject(dec) || !findKey(dec, "resource") {
		return gvr, false
	}
	// A member named twice would make the peek and the decoder disagree; the decode checks.
	return gvr, dec.Decode(&gvr) == nil
}

func enterObject(dec *json.Decoder) bool {
	t, err := dec.Token()
	return err == nil && t == json.Delim('{')
}

// findKey advances to the value of key in the current object, skipping small members before it;
// it gives up at the object or oldObject, whose size is what the peek is meant to avoid.
func findKey(dec *json.Decoder, key string) bool {
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		k, ok := t.(string)
		if !ok {
			return false
		}
		if k == key {
			return true
		}
		if k == "object" || k == "oldObject" {
			return false
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
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
