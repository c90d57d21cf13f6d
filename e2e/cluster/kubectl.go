package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Kubectl runs kubectl against the cluster with the admin kubeconfig and returns its stdout and
// stderr. The binary is $STOWAGE_KUBECTL, else DefaultKubectl. The warning an older kubectl
// prints about its version skew with the 1.37 server is removed from stderr. err is non-nil
// when kubectl could not run or exited non-zero; it then quotes stderr.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.KubectlWithInput(ctx, nil, args...)
}

// KubectlWithInput is Kubectl with stdin, for `apply -f -` and the like.
func (c *Cluster) KubectlWithInput(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	bin := os.Getenv(EnvKubectl)
	if bin == "" {
		bin = DefaultKubectl
	}
	full := append([]string{"--kubeconfig=" + c.Kubeconfig, "--cache-dir=" + filepath.Join(c.WorkDir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	stdout, stderr = out.String(), stripSkewWarning(errOut.String())
	if runErr != nil {
		return stdout, stderr, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), runErr, strings.TrimSpace(stderr))
	}
	return stdout, stderr, nil
}

// skewWarning matches the line kubectl prints when its minor version is more than one away
// from the server's, e.g. "WARNING: version difference between client (1.32) and server
// (1.37) exceeds the supported minor version skew of +/-1".
var skewWarning = regexp.MustCompile(`(?m)^WARNING: version difference between client \(.*\) and server \(.*\) exceeds the supported minor version skew.*\n?`)

// stripSkewWarning removes kubectl's version-skew warning from its stderr.
func stripSkewWarning(stderr string) string {
	return skewWarning.ReplaceAllString(stderr, "")
}
