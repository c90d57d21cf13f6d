package cluster

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// Environment variables that make a program serve the floor webhook instead of what it does.
// `make bench-admission` and the e2e test binary start themselves again with them (FloorEnv),
// from main or TestMain (ServeFloorFromEnv), so that the floor runs in a process of its own, as
// Stowage does.
const (
	FloorAddrEnv  = "STOWAGE_BENCH_FLOOR_ADDR"
	FloorCertsEnv = "STOWAGE_BENCH_FLOOR_CERTS"
	// FloorPatchEnv, when set, is a JSON patch (base64) the floor answers every /mutate with.
	FloorPatchEnv = "STOWAGE_BENCH_FLOOR_PATCH"
)

// FloorEnv is the environment that makes ServeFloorFromEnv serve the floor on addr, with the
// serving certificate in certDir (tls.crt, tls.key) and, when patch is not empty, that patch.
func FloorEnv(addr, certDir, patch string) []string {
	env := []string{FloorAddrEnv + "=" + addr, FloorCertsEnv + "=" + certDir}
	if patch != "" {
		env = append(env, FloorPatchEnv+"="+patch)
	}
	return env
}

// ServeFloorFromEnv serves the floor webhook when FloorAddrEnv is set and reports whether it did
// (it returns only when the server fails).
func ServeFloorFromEnv() bool {
	addr := os.Getenv(FloorAddrEnv)
	if addr == "" {
		return false
	}
	if err := serveFloor(addr, os.Getenv(FloorCertsEnv), os.Getenv(FloorPatchEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "floor webhook:", err)
		os.Exit(1)
	}
	return true
}

// serveFloor is the do-nothing webhook: it reads the AdmissionReview, takes its uid and answers
// "allowed" without a patch, over TLS set up as Stowage's server sets it up (the same serving
// certificate, TLS 1.2 or later, HTTP/1.1 only). What it costs is what any webhook costs; the
// difference to Stowage is what Stowage adds. GET /count returns how many reviews it answered.
//
// With a patch (base64, as a response carries it), it answers every /mutate with that patch,
// computing nothing: the mutating floor, which costs what any webhook that sets these fields
// costs, the API server's applying the patch included.
func serveFloor(addr, certDir, patch string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return err
	}
	var count atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strconv.FormatInt(count.Load(), 10))
	})
	patchField := ""
	if patch != "" {
		patchField = fmt.Sprintf(`,"patchType":"JSONPatch","patch":%q`, patch)
	}
	answer := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 7<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review struct {
			Request *struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		uid, _ := json.Marshal(review.Request.UID)
		w.Header().Set("Content-Type", "application/json")
		extra := ""
		if r.URL.Path == "/mutate" {
			extra = patchField
		}
		_, _ = fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%s,"allowed":true%s}}`, uid, extra)
		count.Add(1)
	}
	mux.HandleFunc("POST /mutate", answer)
	mux.HandleFunc("POST /validate", answer)
	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
			Certificates: []tls.Certificate{cert},
		},
	}
	return srv.ListenAndServeTLS("", "")
}
