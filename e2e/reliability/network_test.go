//go:build reliability

package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The API server refuses loopback addresses in an EndpointSlice, so the slice holds addresses
// of TEST-NET-1 (192.0.2.N) and podNetwork stands in for the pod network: kube-apiserver sends
// its "cluster" traffic (webhook calls among it) through an HTTP CONNECT egress proxy, as it
// does through Konnectivity on clusters whose control plane has no route to Pods, and the proxy
// carries 192.0.2.N:port to 127.0.0.N:port. The API server still resolves the Service to a
// ready endpoint itself; the proxy only moves bytes, and a dead replica is a refused dial, a
// killed one a reset connection, as on a real network.
type podNetwork struct {
	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

// podIP is the endpoint address of a replica bound to a loopback address.
func podIP(loopback string) string {
	return "192.0.2." + loopback[strings.LastIndexByte(loopback, '.')+1:]
}

func loopbackOf(podAddr string) (string, bool) {
	if !strings.HasPrefix(podAddr, "192.0.2.") {
		return "", false
	}
	return "127.0.0." + strings.TrimPrefix(podAddr, "192.0.2."), true
}

// egressConfig is kube-apiserver's --egress-selector-config-file for a proxy on socket.
func egressConfig(socket string) string {
	return fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
  - name: cluster
    connection:
      proxyProtocol: HTTPConnect
      transport:
        uds:
          udsName: %s
`, socket)
}

func startPodNetwork(socket string) (*podNetwork, error) {
	_ = os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	p := &podNetwork{l: l, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	return p, nil
}

func (p *podNetwork) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.open[c] = struct{}{}
	} else {
		delete(p.open, c)
	}
}

func (p *podNetwork) serve(c net.Conn) {
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		fmt.Fprint(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	host, port, err := net.SplitHostPort(req.RequestURI)
	lo, ok := loopbackOf(host)
	if err != nil || !ok {
		fmt.Fprint(c, "HTTP/1.1 403 Forbidden\r\n\r\n")
		return
	}
	backend, err := net.DialTimeout("tcp", net.JoinHostPort(lo, port), 5*time.Second)
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	p.track(backend, true)
	defer p.track(backend, false)
	defer backend.Close()
	if _, err := fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(backend, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, backend); done <- struct{}{} }()
	<-done // either side closing ends the tunnel, as a TCP connection through a NAT would
}

func (p *podNetwork) close() {
	p.l.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
