//go:build reliability

package reliability

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/stowage-dev/stowage/e2e/cluster"
)

// TestReliability runs every failure scenario of issue 9 against one control plane, in order,
// and writes the results table to bin/reliability-report.md.
func TestReliability(t *testing.T) {
	s := newSuite(t)
	ctx := context.Background()

	// A replicated StatefulSet whose budget must survive every scenario.
	s.kubectl("create", "namespace", "apps")
	if _, err := s.cs.AppsV1().StatefulSets("apps").Create(ctx, statefulSet("apps", "keeper", 3, false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var keeper types.UID
	s.eventually(30*time.Second, "the keeper's budget", func() bool {
		b, err := s.cs.PolicyV1().PodDisruptionBudgets("apps").Get(ctx, "keeper-stowage", metav1.GetOptions{})
		if err == nil {
			keeper = b.UID
		}
		return err == nil
	})
	s.keeper = keeper

	s.run("steady", s.steady)
	s.run("graceful-stop-leader", func() { s.gracefulStop(true) })
	s.run("graceful-stop-follower", func() { s.gracefulStop(false) })
	s.run("crash", s.crash)
	s.run("certificate-file-swap", s.certificateSwap)
	s.run("ca-rotation", s.caRotation)
	s.run("apiserver-restart", s.apiserverRestart)
	s.run("etcd-pause", s.etcdPause)
	s.run("webhook-configuration-deleted", s.configurationDeleted)
	s.run("webhook-down", s.webhookDown)
	s.run("readiness-without-caches", s.readiness)
	s.writeReport()
}

// run runs one scenario as a subtest, with both replicas up and ready first.
func (s *suite) run(name string, fn func()) {
	parent := s.t
	parent.Run(name, func(t *testing.T) {
		s.t = t
		defer func() { s.t = parent }()
		s.ensureUp()
		fn()
	})
}

// ensureUp starts any replica that is down and waits for both endpoints and a leader.
func (s *suite) ensureUp() {
	for _, r := range s.replicas {
		if !r.running() {
			s.start(r)
		}
	}
	s.waitEndpoints()
	s.eventually(30*time.Second, "a leader", func() bool { return s.leader() != nil })
}

// checkBudgets fails when the keeper's budget is gone or was replaced, and checks that the
// controllers work: a new replicated StatefulSet gets its budget.
func (s *suite) checkBudgets(name string) time.Duration {
	s.t.Helper()
	ctx := context.Background()
	b, err := s.cs.PolicyV1().PodDisruptionBudgets("apps").Get(ctx, "keeper-stowage", metav1.GetOptions{})
	if err != nil || b.UID != s.keeper {
		s.t.Errorf("the keeper's budget was lost or replaced: %v", err)
	}
	if _, err := s.cs.AppsV1().StatefulSets("apps").Create(ctx, statefulSet("apps", name, 3, false), metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("creating %s: %v", name, err)
	}
	return s.eventually(60*time.Second, "the controllers make "+name+"'s budget", func() bool {
		_, err := s.cs.PolicyV1().PodDisruptionBudgets("apps").Get(ctx, name+"-stowage", metav1.GetOptions{})
		return err == nil
	})
}

func (s *suite) steady() {
	l := s.startLoad("steady")
	time.Sleep(8 * time.Second)
	m := s.stop(l, time.Now())
	s.record("Steady state (baseline)", m, s.expectClean(m)...)
}

// gracefulStop marks a replica's endpoint not ready and sends it SIGTERM mid-load, as kubelet
// and the endpoint controller do on a rollout or a drain. Goal: no create fails.
func (s *suite) gracefulStop(leader bool) {
	victim := s.leader()
	what := "leader"
	if !leader {
		victim, what = s.other(victim), "non-leader"
	}
	l := s.startLoad("graceful-" + what)
	time.Sleep(3 * time.Second)
	t0 := time.Now()
	s.markTerminating(victim)
	victim.stop(syscall.SIGTERM, 30*time.Second)
	stopped := time.Since(t0)
	if code := victim.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("%s exited with %d after SIGTERM", victim.name, code)
	}
	notes := []string{fmt.Sprintf("process exited %s after SIGTERM", stopped.Round(100*time.Millisecond))}
	if leader {
		d := s.eventually(30*time.Second, "the other replica leads", func() bool { return s.other(victim).leads() })
		notes = append(notes, fmt.Sprintf("controllers led by the other replica %s after SIGTERM (lease released)", (stopped+d).Round(100*time.Millisecond)))
	}
	time.Sleep(4 * time.Second)
	m := s.stop(l, t0)
	notes = append(notes, s.expectClean(m)...)
	s.record("Graceful stop of the "+what+" (endpoint not ready, then SIGTERM)", m, notes...)
}

// crash kills the leader with SIGKILL mid-load: no drain, no lease hand-over. The emulated
// readiness probe takes the endpoint out after probeThreshold failed probes.
func (s *suite) crash() {
	victim := s.leader()
	l := s.startLoad("crash")
	time.Sleep(3 * time.Second)
	t0 := time.Now()
	victim.stop(syscall.SIGKILL, 10*time.Second)
	notReady := s.eventually(30*time.Second, "the endpoint is not ready", func() bool { return !s.slice.applied(victim.ip) })
	s.eventually(30*time.Second, "the other replica leads", func() bool { return s.other(victim).leads() })
	d := time.Since(t0)
	time.Sleep(8 * time.Second)
	m := s.stop(l, t0)
	if m.failed > 0 && time.Since(m.lastFailure) < 5*time.Second {
		s.t.Errorf("creates still failed %s after the crash", m.recover)
	}
	s.record("Crash of the leader (SIGKILL)", m, fmt.Sprintf("endpoint marked not ready by the emulated probe %s after the kill (probe every %s, failureThreshold %d)",
		notReady.Round(100*time.Millisecond), probePeriod, probeThreshold),
		fmt.Sprintf("controllers led by the other replica %s after the kill (lease expiry)", d.Round(100*time.Millisecond)),
		"failures are the API server's calls to the killed address until the endpoint is removed; first: "+shortErr(m.firstErr))
}

// certificateSwap re-issues the serving certificate from the same CA, swapping the files as
// kubelet updates a mounted Secret.
func (s *suite) certificateSwap() {
	l := s.startLoad("cert-swap")
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	if err := s.certs.issue(s.certs.ca); err != nil {
		s.t.Fatal(err)
	}
	d := s.waitServed()
	time.Sleep(2 * time.Second)
	m := s.stop(l, t0)
	s.record("Serving certificate re-issued (file swap)", m, append([]string{fmt.Sprintf("both replicas served the new certificate %s after the swap", d.Round(100*time.Millisecond))}, s.expectClean(m)...)...)
}

// waitServed waits until both replicas serve the certificate written last.
func (s *suite) waitServed() time.Duration {
	want := s.certs.current.SerialNumber
	return s.eventually(30*time.Second, "both replicas serve the new certificate", func() bool {
		for _, r := range s.replicas {
			c := r.served()
			if c == nil || c.SerialNumber.Cmp(want) != 0 {
				return false
			}
		}
		return true
	})
}

// caRotation replaces the CA without a failed request: trust both CAs first, then serve a
// certificate from the new one, then drop the old CA.
func (s *suite) caRotation() {
	ctx := context.Background()
	old := s.certs.ca
	next, err := newCA("stowage-reliability-ca-2")
	if err != nil {
		s.t.Fatal(err)
	}
	l := s.startLoad("ca-rotation")
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	s.setCABundle(ctx, append(append([]byte(nil), old.pem...), next.pem...))
	time.Sleep(2 * time.Second) // the API server's webhook informer picks the bundle up
	if err := s.certs.issue(next); err != nil {
		s.t.Fatal(err)
	}
	d := s.waitServed()
	time.Sleep(time.Second)
	s.setCABundle(ctx, next.pem)
	time.Sleep(3 * time.Second)
	m := s.stop(l, t0)
	s.record("CA rotated (caBundle old+new, new certificate, caBundle new)", m, append([]string{
		fmt.Sprintf("new certificate served %s after the swap", d.Round(100*time.Millisecond)),
		"replacing caBundle and certificate at once instead fails every call until both agree: the API server has no way to trust a certificate its bundle does not hold"},
		s.expectClean(m)...)...)
}

// pids returns the replicas' process ids.
func (s *suite) pids() []int {
	var out []int
	for _, r := range s.replicas {
		out = append(out, r.cmd.Process.Pid)
	}
	return out
}

// checkSurvived fails unless every replica still runs the same process.
func (s *suite) checkSurvived(before []int, what string) {
	for i, r := range s.replicas {
		if !r.running() || r.cmd.Process.Pid != before[i] {
			s.t.Errorf("%s did not survive %s (admission capacity lost):\n%s", r.name, what, tail(r.logPath, 20))
		}
	}
}

// lostLeases counts, over both replicas' logs, how often the controllers stopped on their own.
func (s *suite) lostLeases() int {
	n := 0
	for _, r := range s.replicas {
		data, _ := os.ReadFile(r.logPath)
		n += strings.Count(string(data), "the controllers stopped; admission keeps serving")
	}
	return n
}

// reviewer posts AdmissionReviews straight to both replicas until stopped, counting failures:
// what admission does while the control plane is away.
type reviewer struct {
	stopped       chan struct{}
	done          chan struct{}
	total, failed atomic.Int64
	firstErr      atomic.Value
}

func (s *suite) startReviewer() *reviewer {
	pool := x509.NewCertPool()
	pool.AddCert(s.certs.ca.cert)
	obj, _ := json.Marshal(statefulSet("apps", "direct", 0, true))
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "direct", Operation: admissionv1.Create, Namespace: "apps", Name: "direct",
			Kind:     metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"},
			Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"},
			Object:   runtime.RawExtension{Raw: obj}},
	})
	rv := &reviewer{stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(rv.done)
		for {
			for _, r := range s.replicas {
				rv.total.Add(1)
				if err := r.review(pool, body); err != nil {
					rv.failed.Add(1)
					rv.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			select {
			case <-rv.stopped:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return rv
}

func (rv *reviewer) stop() string {
	close(rv.stopped)
	<-rv.done
	return fmt.Sprintf("direct AdmissionReviews to both replicas meanwhile: %d of %d answered", rv.total.Load()-rv.failed.Load(), rv.total.Load())
}

// apiserverRestart restarts kube-apiserver mid-load. Creates fail while it is away (nothing
// else can take them); the replicas must keep running, answer, and the controllers recover.
func (s *suite) apiserverRestart() {
	before, lost := s.pids(), s.lostLeases()
	l := s.startLoad("apiserver-restart")
	time.Sleep(2 * time.Second)
	rv := s.startReviewer()
	t0 := time.Now()
	if err := s.c.Restart(context.Background(), cluster.APIServer); err != nil {
		s.t.Fatal(err)
	}
	down := time.Since(t0)
	direct := rv.stop()
	time.Sleep(6 * time.Second)
	m := s.stop(l, t0)
	s.checkSurvived(before, "an API server restart")
	if m.failed > 0 && m.lastFailure.After(t0.Add(down+5*time.Second)) {
		s.t.Errorf("creates still failed %s after the API server was back", m.lastFailure.Sub(t0.Add(down)).Round(100*time.Millisecond))
	}
	d := s.checkBudgets("after-apiserver")
	s.record("kube-apiserver restart (SIGTERM, SIGKILL after 3 s)", m, fmt.Sprintf("API server away %s (failures are its own downtime)", down.Round(100*time.Millisecond)),
		direct, fmt.Sprintf("replicas kept running; controllers stopped on lease loss %d time(s) and recovered; a new StatefulSet got its budget in %s; no budget lost",
			s.lostLeases()-lost, d.Round(100*time.Millisecond)))
}

// etcdPause stops etcd for longer than the lease (SIGSTOP), so the leader cannot renew it.
func (s *suite) etcdPause() {
	const pause = 12 * time.Second
	before, lost := s.pids(), s.lostLeases()
	l := s.startLoad("etcd-pause")
	time.Sleep(2 * time.Second)
	rv := s.startReviewer()
	t0 := time.Now()
	if err := s.c.Pause(cluster.Etcd); err != nil {
		s.t.Fatal(err)
	}
	time.Sleep(pause)
	if err := s.c.Resume(cluster.Etcd); err != nil {
		s.t.Fatal(err)
	}
	direct := rv.stop()
	time.Sleep(6 * time.Second)
	m := s.stop(l, t0)
	s.checkSurvived(before, "an etcd pause longer than the lease")
	if rv.failed.Load() > 0 {
		s.t.Errorf("admission stopped answering while etcd was paused: %s; first: %v", direct, rv.firstErr.Load())
	}
	lostNow := s.lostLeases() - lost
	if lostNow == 0 {
		s.t.Errorf("the leader never lost its lease: the scenario did not test lease loss")
	}
	leader := s.eventually(60*time.Second, "a leader again", func() bool { return s.leader() != nil })
	d := s.checkBudgets("after-etcd")
	s.record(fmt.Sprintf("etcd paused %s (lease 6 s, renew deadline 4 s)", pause), m,
		"creates fail or wait while etcd is paused (nothing can store them)", direct,
		fmt.Sprintf("controllers stopped on lease loss %d time(s), admission kept running; a leader again %s after resume; a new StatefulSet got its budget in %s; no budget lost",
			lostNow, (leader+6*time.Second).Round(100*time.Millisecond), d.Round(100*time.Millisecond)))
}

// configurationDeleted deletes the ValidatingWebhookConfiguration, the usual break-glass step,
// and checks that the controllers do not widen their reach to the namespaces it excluded.
func (s *suite) configurationDeleted() {
	ctx := context.Background()
	api := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	saved, err := api.Get(ctx, configName, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := api.Delete(ctx, configName, metav1.DeleteOptions{}); err != nil {
		s.t.Fatal(err)
	}
	defer func() {
		saved.ResourceVersion, saved.UID = "", ""
		if _, err := api.Create(ctx, saved, metav1.CreateOptions{}); err != nil {
			s.t.Errorf("restoring the configuration: %v", err)
		}
	}()
	time.Sleep(time.Second)
	// The excluded namespace's StatefulSet first, so that the budget in the covered one proves
	// the controller has seen both.
	if _, err := s.cs.AppsV1().StatefulSets(releaseNamespace).Create(ctx, statefulSet(releaseNamespace, "glass", 3, false), metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.kubectl("create", "namespace", "glass")
	if _, err := s.cs.AppsV1().StatefulSets("glass").Create(ctx, statefulSet("glass", "glass", 3, false), metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.eventually(30*time.Second, "the covered namespace's budget under the last scope seen", func() bool {
		_, err := s.cs.PolicyV1().PodDisruptionBudgets("glass").Get(ctx, "glass-stowage", metav1.GetOptions{})
		return err == nil
	})
	time.Sleep(3 * time.Second)
	_, err = s.cs.PolicyV1().PodDisruptionBudgets(releaseNamespace).Get(ctx, "glass-stowage", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		s.t.Errorf("after the configuration was deleted, the controller made a budget in the excluded namespace %s: %v", releaseNamespace, err)
	}
	s.rows = append(s.rows, row{scenario: "ValidatingWebhookConfiguration deleted (break-glass)", load: "—", failed: "—", recover: "—",
		notes: "no budget made in the excluded release namespace; covered namespaces keep the last scope seen"})
}

// webhookDown stops both replicas and checks what must not depend on them: the StatefulSet
// controller replacing a Pod and its claim (the local-volume recovery path), and kube-system.
func (s *suite) webhookDown() {
	ctx := context.Background()
	if _, err := s.cs.AppsV1().StatefulSets("apps").Create(ctx, statefulSet("apps", "survivor", 2, true), metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	var pod, claim types.UID
	s.eventually(60*time.Second, "survivor-1 and its claim", func() bool {
		p, err1 := s.cs.CoreV1().Pods("apps").Get(ctx, "survivor-1", metav1.GetOptions{})
		c, err2 := s.cs.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "data-survivor-1", metav1.GetOptions{})
		if err1 != nil || err2 != nil {
			return false
		}
		pod, claim = p.UID, c.UID
		return true
	})
	for _, r := range s.replicas {
		s.markTerminating(r)
		r.stop(syscall.SIGTERM, 30*time.Second)
	}
	if _, err := s.cs.AppsV1().StatefulSets(metav1.NamespaceSystem).Create(ctx, statefulSet(metav1.NamespaceSystem, "unaffected", 1, false), metav1.CreateOptions{}); err != nil {
		s.t.Errorf("a create in kube-system failed with the webhook down: %v", err)
	}
	// A node is lost: its replica's Pod and claim go, and the StatefulSet controller makes new ones.
	if err := s.cs.CoreV1().PersistentVolumeClaims("apps").Delete(ctx, "data-survivor-1", metav1.DeleteOptions{}); err != nil {
		s.t.Fatal(err)
	}
	if err := s.cs.CoreV1().Pods("apps").Delete(ctx, "survivor-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		s.t.Fatal(err)
	}
	d := s.eventually(90*time.Second, "the StatefulSet controller replaces the Pod and its claim with the webhook down", func() bool {
		p, err1 := s.cs.CoreV1().Pods("apps").Get(ctx, "survivor-1", metav1.GetOptions{})
		c, err2 := s.cs.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "data-survivor-1", metav1.GetOptions{})
		return err1 == nil && err2 == nil && p.UID != pod && c.UID != claim
	})
	_, err := s.cs.AppsV1().StatefulSets("apps").Create(ctx, statefulSet("apps", "while-down", 3, false), metav1.CreateOptions{})
	denied := err != nil
	s.rows = append(s.rows, row{scenario: "Webhook down (both replicas stopped)", load: "—", failed: "—", recover: "—",
		notes: fmt.Sprintf("kube-system StatefulSet created; the StatefulSet controller replaced a Pod and its claim in a covered namespace in %s; a new StatefulSet in a covered namespace is refused (validation fails closed): %t",
			d.Round(100*time.Millisecond), denied)})
}

// readiness starts a third replica whose credentials cannot list Nodes: its caches can't sync,
// so /readyz must stay false (and /healthz true) until the permission is granted.
func (s *suite) readiness() {
	ctx := context.Background()
	rbac := s.cs.RbacV1()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Namespace: releaseNamespace}}
	if _, err := s.cs.CoreV1().ServiceAccounts(releaseNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "restricted", Namespace: releaseNamespace}}
	everythingButNodes := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "restricted"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"", "apps", "policy", "storage.k8s.io", "stowage.dev", "admissionregistration.k8s.io", "coordination.k8s.io", "events.k8s.io"},
		Resources: []string{"namespaces", "events", "statefulsets", "poddisruptionbudgets", "storageclasses", "placementpolicies", "placementpolicies/status",
			"validatingwebhookconfigurations", "leases", "persistentvolumeclaims"},
		Verbs: []string{"*"}}}}
	nodes := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "restricted-nodes"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}}
	for _, r := range []*rbacv1.ClusterRole{everythingButNodes, nodes} {
		if _, err := rbac.ClusterRoles().Create(ctx, r, metav1.CreateOptions{}); err != nil {
			s.t.Fatal(err)
		}
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "restricted"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "restricted"}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	tok, err := s.cs.CoreV1().ServiceAccounts(releaseNamespace).CreateToken(ctx, "restricted",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: s.c.Host, CertificateAuthorityData: s.c.CACertPEM()}
	kc.AuthInfos["restricted"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "restricted"}
	kc.CurrentContext = "e2e"
	path := filepath.Join(s.tmp, "restricted.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		s.t.Fatal(err)
	}

	r := s.newReplica("replica-3", "127.0.0.4", path, "--leader-elect=false")
	s.launch(r)
	defer r.stop(syscall.SIGTERM, 15*time.Second)
	const hold = 8 * time.Second
	begin := time.Now()
	for time.Since(begin) < hold {
		if code := r.get("/readyz"); code == 200 {
			s.t.Fatalf("/readyz answered ok %s after start although the Node cache cannot sync", time.Since(begin).Round(100*time.Millisecond))
		}
		if !r.running() {
			s.t.Fatalf("the replica exited:\n%s", tail(r.logPath, 20))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code := r.get("/healthz"); code != 200 {
		s.t.Errorf("/healthz = %d while the caches sync: the liveness probe would restart it", code)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "restricted-nodes"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "restricted-nodes"}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	d := s.eventually(60*time.Second, "ready once Nodes can be listed", func() bool { return r.get("/readyz") == 200 })
	s.rows = append(s.rows, row{scenario: "Caches can't sync (no permission to list Nodes)", load: "—", failed: "—", recover: d.Round(100 * time.Millisecond).String(),
		notes: fmt.Sprintf("/readyz false for all %s while /healthz stayed ok; ready %s after the permission was granted (client-go's list backoff)", hold, d.Round(100*time.Millisecond))})
}

// expectClean fails the scenario on any create that failed and any webhook call that failed
// (the mutating webhook fails open, so those show only in the API server's log), unless it
// failed by timing out: a webhook that does not answer within timeoutSeconds is starved of CPU
// on a shared machine, which is not what the scenario breaks. Timeouts are returned as a note
// for the results table instead.
func (s *suite) expectClean(m summary) []string {
	s.t.Helper()
	timeouts, other := 0, []string{}
	for _, e := range m.errors {
		if !isTimeout(e) {
			other = append(other, "create: "+e)
		}
	}
	data, _ := os.ReadFile(s.c.LogPath(cluster.APIServer))
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "Failed calling webhook") || len(line) < 21 {
			continue
		}
		// klog's header: Lmmdd hh:mm:ss.uuuuuu, in local time.
		at, err := time.ParseInLocation("0102 15:04:05.000000", line[1:21], time.Local)
		if err != nil {
			continue
		}
		at = at.AddDate(m.start.Year(), 0, 0)
		if at.Before(m.start) || at.After(m.end) {
			continue
		}
		if isTimeout(line) {
			timeouts++
		} else {
			other = append(other, "API server: "+line)
		}
	}
	if len(other) > 0 {
		if len(other) > 8 {
			other = other[:8]
		}
		s.t.Errorf("%d creates failed and %d were admitted unmutated; webhook calls failed other than by timing out:\n%s",
			m.failed, m.unmutated, strings.Join(other, "\n"))
	}
	if timeouts == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d webhook call(s) timed out (the machine was short of CPU), not counted against the scenario", timeouts)}
}

func isTimeout(s string) bool {
	return strings.Contains(s, "deadline exceeded") || strings.Contains(s, "Timeout") || strings.Contains(s, "timeout awaiting")
}

func shortErr(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// writeReport writes the results table to bin/reliability-report.md.
func (s *suite) writeReport() {
	var b strings.Builder
	fmt.Fprintf(&b, "# Reliability results\n\nTwo `stowage webhook` replicas on 127.0.0.2 and 127.0.0.3 behind the chart's Service and an EndpointSlice, "+
		"kube-apiserver %s with --enable-aggregator-routing=true, an open-loop load of %d StatefulSet creates per second through the API server "+
		"(each through both webhooks). Readiness probe emulated every %s, failureThreshold %d; lease 6 s, renew deadline 4 s, retry 1 s; "+
		"--shutdown-delay 2 s. Generated by `make test-reliability` on %s.\n\n", cluster.KubeVersion, loadRate, probePeriod, probeThreshold, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| Scenario | Load (creates) | Failed creates | Time to recover | Notes |\n|---|---|---|---|---|\n")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.scenario, r.load, r.failed, r.recover, strings.ReplaceAll(r.notes, "|", "\\|"))
	}
	s.t.Log("\n" + b.String())
	if err := os.MkdirAll(filepath.Join(s.root, "bin"), 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(s.root, "bin", "reliability-report.md"), []byte(b.String()), 0o644); err != nil {
			s.t.Error(err)
		}
	}
}
