// Command localconfig points the chart's webhook configurations at a webhook running outside the
// cluster, for trying Stowage against a development API server:
//
//	helm template stowage manifests/chart -n stowage-system --show-only templates/webhooks.yaml \
//	  --set certManager.enabled=false --set caBundle=$(cat /tmp/ca-bundle) \
//	  | go run ./hack/localconfig --url https://127.0.0.1:9443 | kubectl apply -f -
//
// It replaces each webhook's clientConfig.service by url + path and keeps everything else.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/internal/stream"
)

func main() {
	url := flag.String("url", "https://127.0.0.1:9443", "base URL of the local webhook")
	flag.Parse()
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var out []string
	errs := stream.Read("-", data, func(d *stream.Document) error {
		var obj any
		switch d.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if _, err := stream.Decode(d, m); err != nil {
				return err
			}
			for i := range m.Webhooks {
				m.Webhooks[i].ClientConfig = local(*url, m.Webhooks[i].ClientConfig)
			}
			obj = m
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if _, err := stream.Decode(d, v); err != nil {
				return err
			}
			for i := range v.Webhooks {
				v.Webhooks[i].ClientConfig = local(*url, v.Webhooks[i].ClientConfig)
			}
			obj = v
		default:
			return nil
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		out = append(out, string(b))
		return nil
	})
	if len(errs) > 0 {
		fail(errs[0])
	}
	fmt.Print(strings.Join(out, "---\n"))
}

func local(base string, c admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
	path := ""
	if c.Service != nil && c.Service.Path != nil {
		path = *c.Service.Path
	}
	u := strings.TrimSuffix(base, "/") + path
	return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: c.CABundle}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "localconfig:", err)
	os.Exit(1)
}
