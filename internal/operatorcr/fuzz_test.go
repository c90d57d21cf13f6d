package operatorcr

import (
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzProject: any custom resource projects without panicking, and a projection's patch of
// its own StatefulSet is empty.
func FuzzProject(f *testing.F) {
	f.Add([]byte("metadata: {name: a}\nspec: {replicas: 3, affinity: {podAntiAffinity: {}}, storage: {volumeClaimTemplate: {spec: {}}}}\n"), uint8(0))
	f.Add([]byte("metadata: {name: a, labels: {x: y}}\nspec: {podMetadata: {labels: {a: b}}, nodeSelector: {k: v}}\n"), uint8(1))
	for i := range Kinds {
		if Kinds[i].Kind == "KafkaNodePool" {
			f.Add([]byte("metadata: {name: b, labels: {strimzi.io/cluster: c}}\nspec: {replicas: 3, storage: {type: jbod, volumes: [{id: 0, type: persistent-claim, size: 1Gi}, {type: ephemeral}]}, template: {pod: {affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchExpressions: [{key: strimzi.io/pod-name, operator: Exists}]}}]}}}}}\n"), uint8(i))
		}
		if Kinds[i].Kind == "MariaDB" {
			f.Add([]byte("metadata: {name: db}\nspec: {affinity: {antiAffinityEnabled: true, nodeAffinity: {}}, storage: {size: 1Gi, storageClassName: x, volumeClaimTemplate: {resources: {requests: {storage: 1Gi}}}}, galera: {enabled: true, config: {volumeClaimTemplate: {metadata: {}}}}}\n"), uint8(i))
		}
		if Kinds[i].Kind == "RabbitmqCluster" {
			f.Add([]byte("metadata: {name: mq}\nspec: {replicas: 3, persistence: {storage: 1Gi}, override: {statefulSet: {spec: {replicas: 2, volumeClaimTemplates: [{metadata: {name: p}}], template: {spec: {containers: [], topologySpreadConstraints: [{topologyKey: z}]}}}}}}\n"), uint8(i))
		}
		if Kinds[i].Kind == "Elasticsearch" {
			f.Add([]byte("metadata: {name: es}\nspec: {nodeSets: [{name: m, count: 3}, {name: d, count: 2, podTemplate: {spec: {affinity: {}}}, volumeClaimTemplates: [{metadata: {name: x}}]}]}\n"), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte, which uint8) {
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return
		}
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			return
		}
		k := &Kinds[int(which)%len(Kinds)]
		ps, err := Project(k, obj)
		if err != nil {
			return
		}
		for _, p := range ps {
			ops, unmapped, held, err := p.Patch(p.StatefulSet)
			if err != nil || len(ops) != 0 || len(unmapped) != 0 || len(held) != 0 {
				t.Fatalf("patch of the unchanged projection: %v %v %v %v", ops, unmapped, held, err)
			}
			for _, f := range p.bound {
				p.Path(f.StatefulSet + ".x[0]")
			}
		}
	})
}
