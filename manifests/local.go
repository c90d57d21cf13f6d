package manifests

import (
	"errors"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/stowage-dev/stowage/internal/stream"
)

// WebhookConfiguration is a *MutatingWebhookConfiguration or a *ValidatingWebhookConfiguration.
type WebhookConfiguration interface {
	metav1.Object
	runtime.Object
}

// LocalWebhooks reads the webhook configurations in rendered (the chart's
// templates/webhooks.yaml as helm renders it; source names it in errors) and points each webhook
// at base followed by its Service's path, keeping its CA bundle: base https://127.0.0.1:9443
// and path /mutate give https://127.0.0.1:9443/mutate. It is for a webhook that runs outside the
// cluster: hack/localconfig, the e2e suites and the admission benchmark. Other objects are left
// out.
func LocalWebhooks(source string, rendered []byte, base string) ([]WebhookConfiguration, error) {
	local := func(c *admissionregistrationv1.WebhookClientConfig) {
		path := ""
		if c.Service != nil && c.Service.Path != nil {
			path = *c.Service.Path
		}
		u := strings.TrimSuffix(base, "/") + path
		*c = admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: c.CABundle}
	}
	var out []WebhookConfiguration
	errs := stream.Read(source, rendered, func(d *stream.Document) error {
		var obj WebhookConfiguration
		switch d.Kind {
		case "MutatingWebhookConfiguration":
			obj = &admissionregistrationv1.MutatingWebhookConfiguration{}
		case "ValidatingWebhookConfiguration":
			obj = &admissionregistrationv1.ValidatingWebhookConfiguration{}
		default:
			return nil
		}
		if _, err := stream.Decode(d, obj); err != nil {
			return err
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range o.Webhooks {
				local(&o.Webhooks[i].ClientConfig)
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range o.Webhooks {
				local(&o.Webhooks[i].ClientConfig)
			}
		}
		out = append(out, obj)
		return nil
	})
	return out, errors.Join(errs...)
}
