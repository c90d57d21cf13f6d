package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"
)

func TestNewPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatalf("newPKI: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.caPEM) {
		t.Fatal("CA PEM does not parse")
	}

	servingPEM, err := os.ReadFile(p.servingCertFile)
	if err != nil {
		t.Fatal(err)
	}
	serving := parseCert(t, servingPEM)
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	servingKey, err := os.ReadFile(p.servingKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(servingPEM, servingKey); err != nil {
		t.Errorf("serving key pair: %v", err)
	}

	admin := parseCert(t, p.adminCertPEM)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate: %v", err)
	}
	if !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin organization = %v, want [system:masters]", admin.Subject.Organization)
	}

	saKey, err := os.ReadFile(p.saKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(saKey)
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("service-account key is not an RSA PEM block")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		t.Errorf("service-account key: %v", err)
	}
}

func TestIssueServing(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatalf("newPKI: %v", err)
	}
	certPEM, _, err := p.issueServing([]string{"webhook.test.svc"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("issueServing: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	cert := parseCert(t, certPEM)
	for _, host := range []string{"webhook.test.svc", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}
