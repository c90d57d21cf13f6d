package operatorcr

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// crdPlurals are the resource names the operators' CRDs declare in spec.names.plural. A new
// entry of Kinds needs its line here, read from the operator's published CRD: admission rules
// and RBAC name the resource by it.
var crdPlurals = map[string]string{
	"Prometheus":      "prometheuses",    // prometheus-operator, monitoring.coreos.com_prometheuses.yaml
	"Alertmanager":    "alertmanagers",   // monitoring.coreos.com_alertmanagers.yaml
	"ThanosRuler":     "thanosrulers",    // monitoring.coreos.com_thanosrulers.yaml
	"Elasticsearch":   "elasticsearches", // ECK, elasticsearch.k8s.elastic.co_elasticsearches.yaml
	"RabbitmqCluster": "rabbitmqclusters",
	"MariaDB":         "mariadbs",       // mariadb-operator, k8s.mariadb.com_mariadbs.yaml
	"KafkaNodePool":   "kafkanodepools", // Strimzi, 045-Crd-kafkanodepool.yaml
}

func TestResourceIsTheCRDsPlural(t *testing.T) {
	for i := range Kinds {
		k := &Kinds[i]
		want, ok := crdPlurals[k.Kind]
		if !ok {
			t.Errorf("%s: no plural recorded; add the spec.names.plural of its CRD to crdPlurals", k.Kind)
			continue
		}
		if got := k.Resource(); got != want {
			t.Errorf("%s: Resource() = %q, its CRD says %q", k.Kind, got, want)
		}
	}
	// And the CRDs of the pinned prometheus-operator themselves, where `make tools` put them.
	bin := os.Getenv("STOWAGE_PROMETHEUS_OPERATOR")
	if bin == "" {
		bin = "../../bin/prometheus-operator-v0.85.0/prometheus-operator"
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "crds", "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no prometheus-operator CRDs next to %s; run `make tools` or set STOWAGE_PROMETHEUS_OPERATOR", bin)
	}
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Spec struct {
				Group string
				Names struct{ Kind, Plural string }
			}
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range Kinds {
			k := &Kinds[i]
			if k.Group == crd.Spec.Group && k.Kind == crd.Spec.Names.Kind {
				seen++
				if diff := cmp.Diff(crd.Spec.Names.Plural, k.Resource()); diff != "" {
					t.Errorf("%s: Resource() differs from %s (-crd +got):\n%s", k.Kind, f, diff)
				}
			}
		}
	}
	if seen < 3 {
		t.Errorf("found %d of prometheus-operator's kinds in its CRDs, want 3", seen)
	}
}
