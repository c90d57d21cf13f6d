package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

func TestLocalWebhooks(t *testing.T) {
	rendered := `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: stowage}
webhooks:
- name: m.stowage.dev
  clientConfig:
    service: {name: stowage, namespace: stowage-system, path: /mutate}
    caBundle: Q0E=
---
apiVersion: v1
kind: ConfigMap
metadata: {name: left-out}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: stowage}
webhooks:
- name: v.stowage.dev
  clientConfig:
    service: {name: stowage, namespace: stowage-system, path: /validate}
`
	objs, err := LocalWebhooks("webhooks.yaml", []byte(rendered), "https://127.0.0.1:9443/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want the two webhook configurations", len(objs))
	}
	m, ok := objs[0].(*admissionregistrationv1.MutatingWebhookConfiguration)
	if !ok {
		t.Fatalf("first object is %T", objs[0])
	}
	v, ok := objs[1].(*admissionregistrationv1.ValidatingWebhookConfiguration)
	if !ok {
		t.Fatalf("second object is %T", objs[1])
	}
	url := "https://127.0.0.1:9443/mutate"
	if diff := cmp.Diff(admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: []byte("CA")}, m.Webhooks[0].ClientConfig); diff != "" {
		t.Errorf("mutating clientConfig (-want +got):\n%s", diff)
	}
	url2 := "https://127.0.0.1:9443/validate"
	if diff := cmp.Diff(admissionregistrationv1.WebhookClientConfig{URL: &url2}, v.Webhooks[0].ClientConfig); diff != "" {
		t.Errorf("validating clientConfig (-want +got):\n%s", diff)
	}
}

func TestLocalWebhooksBadInput(t *testing.T) {
	_, err := LocalWebhooks("webhooks.yaml", []byte("kind: ValidatingWebhookConfiguration\napiVersion: admissionregistration.k8s.io/v1\nwebhooks: 3\n"), "https://x")
	if err == nil || !strings.Contains(err.Error(), "webhooks") {
		t.Fatalf("err = %v, want one naming the bad field", err)
	}
}
