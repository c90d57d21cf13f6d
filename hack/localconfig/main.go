// Command localconfig points the chart's webhook configurations at a webhook running outside the
// cluster, for trying Stowage against a development API server:
//
//	helm template stowage manifests/chart -n stowage-system --show-only templates/webhooks.yaml \
//	  --set certManager.enabled=false --set caBundle=$(cat /tmp/ca-bundle) \
//	  | go run ./hack/localconfig --url https://127.0.0.1:9443 | kubectl apply -f -
//
// It replaces each webhook's clientConfig.service by url + path and keeps everything else.
//
// It may import the standard library, sigs.k8s.io/yaml and manifests.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/stowage-dev/stowage/manifests"
)

func main() {
	url := flag.String("url", "https://127.0.0.1:9443", "base URL of the local webhook")
	flag.Parse()
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	objs, err := manifests.LocalWebhooks("-", data, *url)
	if err != nil {
		fail(err)
	}
	var out []string
	for _, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			fail(err)
		}
		out = append(out, string(b))
	}
	fmt.Print(strings.Join(out, "---\n"))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "localconfig:", err)
	os.Exit(1)
}
