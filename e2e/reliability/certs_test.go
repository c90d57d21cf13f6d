//go:build reliability

package reliability

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// ca is a certificate authority the suite rotates.
type ca struct {
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(name string) (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{name: name, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// serving issues a serving certificate for the Service's DNS name, as the chart's Certificate
// (or a secret made by hand) holds it.
func (c *ca) serving() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: serviceDNS},
		DNSNames:  []string{serviceName, serviceName + "." + releaseNamespace, serviceDNS, serviceDNS + ".cluster.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// certDir is the replicas' --cert-dir laid out as kubelet lays out a mounted Secret:
// tls.crt -> ..data/tls.crt, ..data -> ..<version>/. A rotation writes a new version folder and
// swaps ..data in one rename, so a reader never sees a certificate with the wrong key.
type certDir struct {
	dir     string
	version int
	ca      *ca
	current *x509.Certificate // the serving certificate written last
}

func newCertDir(dir string) (*certDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	first, err := newCA("stowage-reliability-ca-1")
	if err != nil {
		return nil, err
	}
	d := &certDir{dir: dir}
	if err := d.issue(first); err != nil {
		return nil, err
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// issue writes a new serving certificate from c and swaps it in atomically.
func (d *certDir) issue(c *ca) error {
	certPEM, keyPEM, err := c.serving()
	if err != nil {
		return err
	}
	block, _ := pem.Decode(certPEM)
	if d.current, err = x509.ParseCertificate(block.Bytes); err != nil {
		return err
	}
	d.version++
	v := fmt.Sprintf("..v%d", d.version)
	if err := os.MkdirAll(filepath.Join(d.dir, v), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, v, "tls.crt"), certPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, v, "tls.key"), keyPEM, 0o600); err != nil {
		return err
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(v, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		return err
	}
	d.ca = c
	return nil
}

// bundle is the base64 caBundle of the current CA.
func (d *certDir) bundle() string { return base64.StdEncoding.EncodeToString(d.ca.pem) }
