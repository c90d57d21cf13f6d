package cluster

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

// Pinned versions of the binaries that `make tools` builds into bin/<name>-<version>/. They
// must match the Makefile's KUBE_VERSION, ETCD_VERSION and KWOK_VERSION.
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.6.16"
	KwokVersion = "v0.8.0"
)

// Environment variables that override where the binaries are found.
const (
	// EnvKubeBinDir names the folder that holds kube-apiserver, kube-controller-manager and
	// kube-scheduler.
	EnvKubeBinDir = "STOWAGE_KUBE_BIN_DIR"
	// EnvEtcd names the etcd binary.
	EnvEtcd = "STOWAGE_ETCD"
	// EnvKwok names the kwok binary.
	EnvKwok = "STOWAGE_KWOK"
	// EnvKwokStagesDir names a folder holding kwok's stage files (see KwokStageFiles).
	EnvKwokStagesDir = "STOWAGE_KWOK_STAGES_DIR"
	// EnvKubectl names the kubectl binary that Kubectl runs.
	EnvKubectl = "STOWAGE_KUBECTL"
	// EnvKeepWorkDir, when set to a non-empty value, keeps the work folder of every cluster
	// after Stop, so that its logs and PKI can be read after the test.
	EnvKeepWorkDir = "STOWAGE_E2E_KEEP"
)

// DefaultKubectl is the kubectl that Kubectl runs when EnvKubectl is unset.
const DefaultKubectl = "/usr/bin/kubectl"

// ErrBinaryNotFound is wrapped by the error Start returns when a binary is missing. Suites that
// prefer skipping to failing on a machine without the binaries check for it with errors.Is.
var ErrBinaryNotFound = errors.New("binary not found (run `make tools`)")

// Component names one process of the control plane.
type Component string

// The components Start runs, in start order.
const (
	Etcd              Component = "etcd"
	APIServer         Component = "kube-apiserver"
	ControllerManager Component = "kube-controller-manager"
	Scheduler         Component = "kube-scheduler"
	Kwok              Component = "kwok"
)

// Options configure Start. The zero value runs etcd and kube-apiserver from the binaries that
// `make tools` builds, in a fresh temporary folder.
type Options struct {
	// KubeBinDir is the folder holding kube-apiserver, kube-controller-manager and
	// kube-scheduler. Default: $STOWAGE_KUBE_BIN_DIR, else bin/kube-<KubeVersion> under the
	// module root (the first folder holding a go.mod, walking up from the working folder).
	KubeBinDir string
	// Etcd is the etcd binary. Default: $STOWAGE_ETCD, else bin/etcd-<EtcdVersion>/etcd.
	Etcd string
	// Kwok is the kwok binary. Default: $STOWAGE_KWOK, else bin/kwok-<KwokVersion>/kwok.
	Kwok string
	// KwokStagesDir is a folder holding KwokStageFiles. Default: $STOWAGE_KWOK_STAGES_DIR, else
	// the stages folder next to the kwok binary if it holds them all, else the module
	// sigs.k8s.io/kwok@KwokVersion located with `go mod download -json`.
	KwokStagesDir string

	// Scheduling also starts kube-controller-manager, kube-scheduler and kwok, so that Pods are
	// created, scheduled and run on fake nodes. Without it only etcd and kube-apiserver run:
	// enough for admission tests, and about twice as fast to start.
	Scheduling bool
	// FakeKubelets starts kwok alone, without kube-controller-manager and kube-scheduler: kwok
	// marks annotated Nodes Ready, keeps their Leases and runs the Pods written with
	// spec.nodeName, and nothing else acts on the objects a test writes. For populating a
	// large cluster quickly. Scheduling implies it.
	FakeKubelets bool

	// WorkDir holds the PKI, kubeconfig, etcd data and logs. Default: a new temporary folder,
	// removed by Stop unless KeepWorkDir is set or $STOWAGE_E2E_KEEP is non-empty. A folder
	// given here is never removed; Start clears its etcd/ subfolder so that each cluster starts
	// empty, and appends to its logs.
	WorkDir string
	// KeepWorkDir keeps a temporary WorkDir after Stop.
	KeepWorkDir bool

	// Logf receives the harness's own progress messages and timings (not the components'
	// output, which goes to log files). Default: the standard logger. StartForTest uses t.Logf.
	Logf func(format string, args ...any)

	// StartTimeout bounds the wait for the components to become healthy. Default: 90 s.
	StartTimeout time.Duration
	// StopGracePeriod is how long Stop waits after SIGTERM before it sends SIGKILL. Default: 10 s.
	StopGracePeriod time.Duration

	// ExtraArgs are appended to a component's command line after the harness's own flags, so
	// they can override them, e.g. {ControllerManager: {"--node-monitor-grace-period=20s"}}.
	ExtraArgs map[Component][]string
}

// binaries are the resolved paths of the programs a cluster runs.
type binaries struct {
	etcd, apiserver, controllerManager, scheduler, kwok string
	kwokStages                                          []string
}

// withDefaults returns a copy of o with every unset field filled in. It is the only place the
// package reads its environment variables.
func (o Options) withDefaults() Options {
	if o.KubeBinDir == "" {
		o.KubeBinDir = os.Getenv(EnvKubeBinDir)
	}
	if o.Etcd == "" {
		o.Etcd = os.Getenv(EnvEtcd)
	}
	if o.Kwok == "" {
		o.Kwok = os.Getenv(EnvKwok)
	}
	if o.KwokStagesDir == "" {
		o.KwokStagesDir = os.Getenv(EnvKwokStagesDir)
	}
	if o.KubeBinDir == "" || o.Etcd == "" || o.Kwok == "" {
		if root, err := moduleRoot(); err == nil {
			bin := filepath.Join(root, "bin")
			if o.KubeBinDir == "" {
				o.KubeBinDir = filepath.Join(bin, "kube-"+KubeVersion)
			}
			if o.Etcd == "" {
				o.Etcd = filepath.Join(bin, "etcd-"+EtcdVersion, "etcd")
			}
			if o.Kwok == "" {
				o.Kwok = filepath.Join(bin, "kwok-"+KwokVersion, "kwok")
			}
		}
	}
	if os.Getenv(EnvKeepWorkDir) != "" {
		o.KeepWorkDir = true
	}
	if o.Logf == nil {
		o.Logf = log.New(os.Stderr, "cluster: ", log.LstdFlags|log.Lmicroseconds).Printf
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.StopGracePeriod <= 0 {
		o.StopGracePeriod = 10 * time.Second
	}
	return o
}

// resolveBinaries checks that every binary the options call for exists and is executable.
func (o Options) resolveBinaries() (binaries, error) {
	var b binaries
	if o.KubeBinDir == "" || o.Etcd == "" {
		return b, fmt.Errorf("locate binaries: no go.mod above the working folder and %s/%s unset: %w", EnvKubeBinDir, EnvEtcd, ErrBinaryNotFound)
	}
	b.etcd = o.Etcd
	b.apiserver = filepath.Join(o.KubeBinDir, string(APIServer))
	need := []string{b.etcd, b.apiserver}
	if o.Scheduling {
		b.controllerManager = filepath.Join(o.KubeBinDir, string(ControllerManager))
		b.scheduler = filepath.Join(o.KubeBinDir, string(Scheduler))
		need = append(need, b.controllerManager, b.scheduler)
	}
	if o.runsKwok() {
		b.kwok = o.Kwok
		need = append(need, b.kwok)
	}
	for _, p := range need {
		if err := checkExecutable(p); err != nil {
			return b, err
		}
	}
	if o.runsKwok() {
		stages, err := kwokStages(o.KwokStagesDir, b.kwok)
		if err != nil {
			return b, err
		}
		b.kwokStages = stages
	}
	return b, nil
}

// runsKwok reports whether the cluster runs kwok.
func (o Options) runsKwok() bool { return o.Scheduling || o.FakeKubelets }

// checkExecutable reports a missing or non-executable file, wrapping ErrBinaryNotFound.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, ErrBinaryNotFound)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file: %w", path, ErrBinaryNotFound)
	}
	return nil
}

// moduleRoot returns the first folder holding a go.mod, walking up from the working folder.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working folder: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working folder")
		}
		dir = parent
	}
}
