// Command stowage keeps the replicas of stateful workloads on separate nodes. Its subcommands
// are `check` (offline, over manifests), `webhook` (admission and the budget controller) and
// `audit` (a live cluster). This file handles signals, logging and the root command only; each
// subcommand lives in its own file and adapts flags to a package that does the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
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
	err := newRootCommand().ExecuteContext(ctx)
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
