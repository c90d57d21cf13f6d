package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// MaxBodyBytes caps an AdmissionReview. The API server refuses request bodies over 3 MiB
// (--max-request-bytes), so no object Stowage judges is larger, and a StatefulSet or claim
// anywhere near that size is already refused by etcd's 1.5 MiB limit on what it stores. A cap
// of 3 MiB therefore turns away nothing real, where controller-runtime's 7 MiB let 64 crafted
// reviews take about 930 MiB of heap.
const MaxBodyBytes = 3 << 20

// Mode says what an endpoint does.
type Mode string

const (
	// Mutating endpoints return the policy's patch and never reject.
	Mutating Mode = "mutate"
	// Validating endpoints reject (Deny), warn (Warn) or only record (Audit).
	Validating Mode = "validate"
)

// Handler serves one admission endpoint. It decodes the AdmissionReview itself rather than
// through controller-runtime's admission.Webhook: the engine already returns the patch, so the
// generic decode, deep copy, marshal and CreatePatch round trip would only cost time.
type Handler struct {
	Mode     Mode
	Admitter *Admitter
	// MaxBodyBytes overrides MaxBodyBytes when positive.
	MaxBodyBytes int64
	// Log receives errors and decisions; it never receives object bodies.
	Log logr.Logger
	// Metrics, when set, records decisions and latency.
	Metrics *Metrics
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP answers one AdmissionReview.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var uid types.UID
	var failOpen bool // an operator's custom resource is never denied, even on our own failure
	defer func() {
		if p := recover(); p != nil {
			h.Log.Error(fmt.Errorf("panic: %v", p), "admission handler panicked", "uid", uid, "stack", string(debug.Stack()))
			writeReview(w, http.StatusOK, h.failed(uid, failOpen, http.StatusInternalServerError,
				fmt.Sprintf("stowage hit an internal error evaluating this object (uid %s); it has been logged, please report it", uid)))
			if h.Metrics != nil {
				h.Metrics.observe(h.Mode, &decision{errored: true}, time.Since(start))
			}
		}
	}()

	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews must be POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		http.Error(w, fmt.Sprintf("content type %q is not supported: send application/json", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	if r.ContentLength > limit {
		// Refuse before reading; closing the connection spares draining the body.
		w.Header().Set("Connection", "close")
		http.Error(w, fmt.Sprintf("request body of %d bytes is over the %d-byte limit", r.ContentLength, limit), http.StatusRequestEntityTooLarge)
		return
	}
	body, release, err := readBody(r, limit)
	defer release()
	if err != nil {
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > limit {
		http.Error(w, fmt.Sprintf("request body is over the %d-byte limit", limit), http.StatusRequestEntityTooLarge)
		return
	}
	review, err := decodeReview(body)
	if err != nil {
		http.Error(w, "could not decode the AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		http.Error(w, fmt.Sprintf("expected an admission.k8s.io/v1 AdmissionReview, got %q %q; set admissionReviewVersions: [v1]", review.APIVersion, review.Kind), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "the AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	req := review.Request
	uid = req.UID
	failOpen = h.Mode == Mutating || customKind(req) != nil

	// Honour the API server's deadline: past it nobody is waiting for the answer.
	ctx := r.Context()
	if t := r.URL.Query().Get("timeout"); t != "" {
		if d, err := time.ParseDuration(t); err == nil && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	log := withRequestValues(h.Log, "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "operation", req.Operation)
	ctx = logr.NewContext(ctx, log)

	var resp *admissionv1.AdmissionResponse
	var d *decision
	if h.Mode == Mutating {
		resp, d = h.Admitter.Mutate(ctx, req)
	} else {
		resp, d = h.Admitter.Validate(ctx, req)
	}
	if err := ctx.Err(); err != nil && errors.Is(err, context.DeadlineExceeded) {
		resp = h.failed(uid, failOpen, http.StatusGatewayTimeout, "stowage did not decide within the API server's timeout")
		d = &decision{errored: true}
	}
	resp.UID = req.UID
	writeReview(w, http.StatusOK, resp)
	if h.Metrics != nil {
		h.Metrics.observe(h.Mode, d, time.Since(start))
	}
}

// failed answers a request the handler could not decide. With failOpen (the mutating endpoint,
// and an operator's custom resource on the validating one) it never rejects: it admits the
// object unchanged, with a warning, and leaves the verdict to the validating endpoint or to the
// StatefulSet's own admission (an explicit denial would bypass failurePolicy: Ignore).
// Otherwise the validating endpoint fails closed.
func (h *Handler) failed(uid types.UID, failOpen bool, code int32, msg string) *admissionv1.AdmissionResponse {
	if failOpen {
		return &admissionv1.AdmissionResponse{UID: uid, Allowed: true, Warnings: []string{msg + "; admitted unchanged"}}
	}
	return errorResponse(uid, code, msg)
}

func errorResponse(uid types.UID, code int32, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: uid, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonInternalError, Message: msg,
	}}
}

func writeReview(w http.ResponseWriter, code int, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	data, err := json.Marshal(out)
	if err != nil {
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
