//go:build !checkonly

package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/stowage-dev/stowage/internal/gostats"
)

// debugServer serves Go's /debug/pprof endpoints, as controller-runtime's PprofBindAddress does,
// and /debug/runtime-metrics: the runtime's GC-pause, scheduler-latency and GC-CPU figures at
// full resolution (gostats), which the e2e load test reads before and after its load. It
// returns nil when addr is "" or "0". Like pprof, never expose it beyond the pod.
func debugServer(addr string) (*manager.Server, error) {
	if addr == "" || addr == "0" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-bind-address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/runtime-metrics", gostats.Handler())
	shutdown := 5 * time.Second
	return &manager.Server{
		Name:            "debug",
		Server:          &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10},
		Listener:        l,
		ShutdownTimeout: &shutdown,
	}, nil
}
