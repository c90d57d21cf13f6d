//go:build linux

// Command benchadmission measures what admission costs a StatefulSet CREATE on a real
// kube-apiserver (the e2e harness's, with etcd): no admission, Stowage's webhooks, the
// equivalent MutatingAdmissionPolicy (examples/mutatingadmissionpolicy.yaml) and a do-nothing
// webhook over the same TLS and configuration, alternating, in fresh namespaces. It reports p50,
// p99, throughput and the API server's CPU per request, with Stowage's PodDisruptionBudget
// write separately, as a Markdown table. Run it with `make bench-admission`.
//
// It may import the standard library, the Kubernetes API types and client libraries, the e2e
// harness (e2e/cluster), manifests, internal/stream and Stowage's API types; Stowage itself
// runs as the built binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stowage-dev/stowage/e2e/cluster"
)

func main() {
	if cluster.ServeFloorFromEnv() {
		return
	}
	var (
		rounds = flag.Int("rounds", 3, "rounds; every round measures every configuration at every concurrency")
		conc   = flag.String("concurrency", "1,8", "comma-separated numbers of concurrent clients")
		n      = flag.String("creates", "500,1000", "StatefulSet creates per phase, one per concurrency")
		warmup = flag.Int("warmup", 100, "creates per configuration before the first round")
		out    = flag.String("out", "bin/bench-admission.md", "Markdown report")
		note   = flag.String("note", "", "a line printed under the table's heading (what this run changed)")
		extra  = flag.String("stowage-args", "", "extra flags for `stowage webhook`, space-separated")
		prof   = flag.String("profile", "", "instead of the rounds, write CPU profiles of the API server (and Stowage) under one phase per configuration into this folder")
		profS  = flag.Int("profile-seconds", 10, "length of each profile")
	)
	flag.Parse()
	opts := Options{Rounds: *rounds, Warmup: *warmup, Out: *out, Note: *note, Logf: log.Printf, ProfileDir: *prof, ProfileSeconds: *profS}
	var err error
	if opts.Concurrency, err = ints(*conc); err == nil {
		opts.Creates, err = ints(*n)
	}
	if err == nil && len(opts.Creates) != len(opts.Concurrency) {
		err = fmt.Errorf("-creates has %d values for %d concurrencies", len(opts.Creates), len(opts.Concurrency))
	}
	if err != nil {
		log.Fatal(err)
	}
	if *extra != "" {
		opts.ExtraStowageArgs = strings.Fields(*extra)
	}
	if opts.Self, err = os.Executable(); err != nil {
		log.Fatal(err)
	}
	if opts.Root, err = moduleRoot(); err != nil {
		log.Fatal(err)
	}
	if !filepath.IsAbs(opts.Out) {
		opts.Out = filepath.Join(opts.Root, opts.Out)
	}
	res, err := Run(context.Background(), opts)
	if err != nil {
		log.Fatal(err)
	}
	if opts.ProfileDir != "" {
		log.Printf("profiles in %s", opts.ProfileDir)
		return
	}
	fmt.Print(res.Markdown())
	log.Printf("wrote %s", opts.Out)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// moduleRoot is the first folder holding a go.mod, walking up from the working folder.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working folder")
		}
		dir = parent
	}
}
