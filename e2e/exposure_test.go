//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/internal/operatorcr"
)

// TestChartRBACAndSecureMetrics runs a second `stowage webhook` as the chart's ServiceAccount,
// with exactly the chart's (trimmed) RBAC and the chart's default of secure metrics. It must
// become ready (every informer lists and watches), follow the shared replica's leader lease
// without a single "forbidden" in its log, and serve /metrics only to a token allowed
// `get /metrics`: 401 without a token, 403 for a ServiceAccount without the chart's
// metrics-reader role, 200 once it is bound.
func TestChartRBACAndSecureMetrics(t *testing.T) {
	ctx := context.Background()
	const saNamespace, saName = "stowage-system", "stowage"

	// The chart's ServiceAccount and RBAC, rendered with the pinned helm as a user installs them.
	rendered, err := exec.Command(env.helm(), "template", "stowage", filepath.Join(env.root, "manifests/chart"), "--namespace", saNamespace,
		"--kube-version", "v1.37.2", "--set", "certManager.enabled=false", "--set", "caBundle=Y2E=",
		"--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	if out, errOut, err := kubectlIn(t, string(rendered), "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the chart's RBAC: %v\n%s%s", err, out, errOut)
	}

	token := func(ns, name string) string {
		t.Helper()
		tr, err := env.cluster.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token for %s/%s: %v", ns, name, err)
		}
		return tr.Status.Token
	}

	// The audit may list every operator resource it judges, and only list them. The API server's
	// own authorizer answers (a SubjectAccessReview, as kubectl auth can-i sends, which cannot
	// name a resource whose CRD is not installed).
	allowed := func(verb string, k operatorcr.Kind) bool {
		t.Helper()
		sar, err := env.cluster.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + saNamespace + ":" + saName,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: k.Group, Resource: k.Resource()},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	for _, k := range operatorcr.Kinds {
		if !allowed("list", k) {
			t.Errorf("the chart's ServiceAccount may not list %s.%s", k.Resource(), k.Group)
		}
		if allowed("update", k) || allowed("watch", k) {
			t.Errorf("the chart's ServiceAccount may update or watch %s.%s; it must only list them", k.Resource(), k.Group)
		}
	}

	// A kubeconfig that authenticates as the chart's ServiceAccount.
	admin, err := clientcmd.LoadFromFile(env.cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := admin.DeepCopy()
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{"sa": {Token: token(saNamespace, saName)}}
	for _, c := range cfg.Contexts {
		c.AuthInfo = "sa"
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			t.Fatal(err)
		}
	}
	port, probe, metricsPort := ports[0], ports[1], ports[2]
	logPath := filepath.Join(dir, "webhook.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(env.stowage, "webhook", "--kubeconfig", kubeconfig, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--cert-dir", filepath.Join(dir, "certs"), "--self-signed", "--self-signed-hosts", "127.0.0.1",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probe),
		"--namespace", saNamespace, "--leader-elect=true", "--log-format", "console")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(waited) }()
	t.Cleanup(func() { stopProcessGroup(cmd.Process.Pid, waited, 15*time.Second) })
	logTail := func() string { return fileTail(logPath, 60) }

	eventually(t, 60*time.Second, "the webhook running as the chart's ServiceAccount is ready", func() (bool, error) {
		select {
		case <-waited:
			return false, fmt.Errorf("it exited:\n%s", logTail())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe))
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}

	ns := namespace(t, "metrics-scraper", nil)
	if err := env.cluster.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	scraper := token(ns, "prometheus")
	if code, _ := scrape(scraper); code != http.StatusForbidden {
		t.Errorf("/metrics with a token not allowed get /metrics: %d, want 403", code)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-metrics-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "stowage-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: ns}},
	}
	if err := env.cluster.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.cluster.Client.Delete(context.Background(), binding) })
	// The filter caches a denial for 30 s (controller-runtime's DenyCacheTTL), so the 403 above
	// lingers that long after the binding exists.
	eventually(t, 90*time.Second, "the bound scraper reads /metrics", func() (bool, error) {
		code, body := scrape(scraper)
		return code == http.StatusOK && strings.Contains(body, "stowage_admission_in_flight_requests"), nil
	})

	// Give the follower a few lease retries, then look for any permission it lacked.
	time.Sleep(5 * time.Second)
	if log, _ := os.ReadFile(logPath); strings.Contains(string(log), "forbidden") {
		t.Errorf("the webhook running with the chart's RBAC was refused something:\n%s", logTail())
	}
}
