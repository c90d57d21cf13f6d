// Command stowage keeps the replicas of stateful workloads on separate nodes. Its subcommands
// are `check` (offline, over manifests), `webhook` (admission and the budget controller) and
// `audit` (a live cluster). This file handles signals, logging and the root command only; each
// subcommand lives in its own file and adapts flags to a package that does the work.
//
// It may import any of Stowage's packages except the test-only ones (e2e/..., hack/...,
// internal/testcorpus), and the libraries they use: cobra and pflag for flags, zap for logs,
// client-go and controller-runtime for the cluster. Files built for stowage-check (tag
// checkonly) import neither client-go nor controller-runtime.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var prof profiling
	root := newRootCommand()
	prof.addFlags(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }
	err := root.ExecuteContext(ctx)
	if perr := prof.stop(); err == nil {
		err = perr
	}
	stop()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "stowage",
		Short: "Keep the replicas of stateful workloads on separate nodes",
		Long: "Stowage makes StatefulSets on node-local storage safe by default: it fills in the storage class,\n" +
			"hard pod anti-affinity on kubernetes.io/hostname and topology spread, keeps a PodDisruptionBudget\n" +
			"per replicated StatefulSet, and rejects specs that would put two replicas on one node.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err.Error()) })
	root.AddCommand(newCheckCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands lets each subcommand file register itself.
var extraCommands []func() *cobra.Command

// profiling writes Go CPU and heap profiles of one run, for measuring the CLI on real inputs
// (`make bench-audit` profiles the audit this way). The flags are hidden: they are for the
// people who work on Stowage.
type profiling struct {
	cpuFile, heapFile string
	cpu               *os.File
}

func (p *profiling) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&p.cpuFile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.StringVar(&p.heapFile, "memprofile", "", "write a heap profile (allocations included) at the end of the run to this file")
	_ = f.MarkHidden("cpuprofile")
	_ = f.MarkHidden("memprofile")
}

func (p *profiling) start() error {
	if p.cpuFile == "" {
		return nil
	}
	f, err := os.Create(p.cpuFile)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	p.cpu = f
	return nil
}

func (p *profiling) stop() error {
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile()
		errs = append(errs, p.cpu.Close())
	}
	if p.heapFile != "" {
		f, err := os.Create(p.heapFile)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("heap profile: %w", err))...)
		}
		runtime.GC() // so that the in-use figures are the heap at the end, not at the last collection
		errs = append(errs, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
	}
	return errors.Join(errs...)
}
