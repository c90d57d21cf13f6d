package operatorcr

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func resource(t *testing.T, doc string) map[string]any {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// project1 projects a resource that becomes one StatefulSet.
func project1(t *testing.T, k *Kind, obj map[string]any) (*Projection, error) {
	t.Helper()
	ps, err := Project(k, obj)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		t.Fatalf("%d projections, want 1", len(ps))
	}
	return ps[0], nil
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"monitoring.coreos.com/v1", "Prometheus", true},
		{"monitoring.coreos.com/v1", "Alertmanager", true},
		{"monitoring.coreos.com/v1", "ThanosRuler", true},
		{"monitoring.coreos.com/v1alpha1", "Prometheus", false},
		{"monitoring.coreos.com/v1", "ServiceMonitor", false},
		{"v1", "Prometheus", false},
		{"elasticsearch.k8s.elastic.co/v1", "Elasticsearch", true},
		{"elasticsearch.k8s.elastic.co/v1beta1", "Elasticsearch", false},
		{"rabbitmq.com/v1beta1", "RabbitmqCluster", true},
		{"k8s.mariadb.com/v1alpha1", "MariaDB", true},
		{"kafka.strimzi.io/v1beta2", "KafkaNodePool", true},
		{"kafka.strimzi.io/v1beta2", "Kafka", false},
	} {
		if got := Lookup(tc.apiVersion, tc.kind) != nil; got != tc.want {
			t.Errorf("Lookup(%s, %s) = %v, want %v", tc.apiVersion, tc.kind, got, tc.want)
		}
	}
}

func TestProject(t *testing.T) {
	k := Lookup("monitoring.coreos.com/v1", "Prometheus")
	p, err := project1(t, k, resource(t, `
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring, labels: {release: kps}}
spec:
  replicas: 2
  shards: 2
  podMetadata: {labels: {team: obs, prometheus: overridden}}
  nodeSelector: {disk: ssd}
  tolerations: [{key: dedicated, operator: Exists}]
  topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, additionalLabelSelectors: OnShard}
  storage:
    volumeClaimTemplate:
      metadata: {labels: {tier: fast}}
      spec: {storageClassName: local, resources: {requests: {storage: 5Gi}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.StatefulSet
	if s.Name != "prometheus-k8s" || s.Namespace != "monitoring" || s.Labels["release"] != "kps" || *s.Spec.Replicas != 2 {
		t.Errorf("metadata or replicas: %s/%s %v %d", s.Namespace, s.Name, s.Labels, *s.Spec.Replicas)
	}
	wantSel := map[string]string{"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
		"app.kubernetes.io/instance": "k8s", "operator.prometheus.io/name": "k8s", "prometheus": "k8s"}
	if diff := cmp.Diff(wantSel, s.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	if l := s.Spec.Template.Labels; l["team"] != "obs" || l["prometheus"] != "k8s" {
		t.Errorf("pod labels: the podMetadata labels are added, the operator's win: %v", l)
	}
	if s.Spec.Template.Spec.NodeSelector["disk"] != "ssd" || len(s.Spec.Template.Spec.Tolerations) != 1 || len(s.Spec.Template.Spec.TopologySpreadConstraints) != 1 {
		t.Errorf("placement fields not copied: %+v", s.Spec.Template.Spec)
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "prometheus-k8s-db" ||
		*s.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "local" || s.Spec.VolumeClaimTemplates[0].Labels["tier"] != "fast" {
		t.Errorf("claim template: %+v", s.Spec.VolumeClaimTemplates)
	}

	// Replicas default to the operator's; no storage means no claim template.
	p, err = project1(t, Lookup("monitoring.coreos.com/v1", "Alertmanager"), resource(t, "metadata: {name: main}\nspec: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *p.StatefulSet.Spec.Replicas != 1 || len(p.StatefulSet.Spec.VolumeClaimTemplates) != 0 || p.StatefulSet.Name != "alertmanager-main" {
		t.Errorf("defaults: %+v", p.StatefulSet.Spec)
	}
}

func TestProjectErrorsNameTheField(t *testing.T) {
	k := Lookup("monitoring.coreos.com/v1", "Alertmanager")
	for _, tc := range []struct{ doc, want string }{
		{"metadata: {}\nspec: {}\n", "metadata.name"},
		{"metadata: {name: a}\nspec: {podMetadata: {labels: [x]}}\n", "spec.podMetadata.labels"},
		{"metadata: {name: a}\nspec: {storage: {volumeClaimTemplate: 3}}\n", "spec.storage.volumeClaimTemplate"},
		{"metadata: {name: a}\nspec: {replicas: three}\n", "spec.replicas"},
		{"metadata: {name: a}\nspec: {affinity: {podAntiAffinity: 1}}\n", "spec.affinity"},
	} {
		_, err := Project(k, resource(t, tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.doc, err, tc.want)
		}
	}
}

func TestPath(t *testing.T) {
	p, err := project1(t, Lookup("monitoring.coreos.com/v1", "Prometheus"), resource(t,
		"metadata: {name: k8s}\nspec: {storage: {volumeClaimTemplate: {spec: {}}}, podMetadata: {labels: {a: b}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sts, want string
		mapped    bool
	}{
		{"spec.template.spec.affinity.podAntiAffinity", "spec.affinity.podAntiAffinity", true},
		{"spec.template.spec.nodeSelector[kubernetes.io/hostname]", "spec.nodeSelector[kubernetes.io/hostname]", true},
		{"spec.volumeClaimTemplates[0].spec.storageClassName", "spec.storage.volumeClaimTemplate.spec.storageClassName", true},
		{"spec.replicas", "spec.replicas", true},
		{"spec.template.metadata.labels", "spec.podMetadata.labels", true},
		{"spec.template.spec.affinityX", "spec", false},
		{"spec.selector", "spec", false},
	} {
		got, mapped := p.Path(tc.sts)
		if got != tc.want || mapped != tc.mapped {
			t.Errorf("Path(%s) = %s, %v; want %s, %v", tc.sts, got, mapped, tc.want, tc.mapped)
		}
	}
}

func TestPointer(t *testing.T) {
	for in, want := range map[string]string{
		"spec.affinity":                         "/spec/affinity",
		"spec.volumeClaimTemplates[0].spec":     "/spec/volumeClaimTemplates/0/spec",
		"spec.storage.volumeClaimTemplate.spec": "/spec/storage/volumeClaimTemplate/spec",
	} {
		if got := pointer(in); got != want {
			t.Errorf("pointer(%s) = %s, want %s", in, got, want)
		}
	}
}

// ECK: one StatefulSet per node set, each with ECK's defaults where the node set has no
// affinity or claim templates, and a patch at that node set's index.
func TestProjectElasticsearchNodeSets(t *testing.T) {
	k := Lookup("elasticsearch.k8s.elastic.co/v1", "Elasticsearch")
	ps, err := Project(k, resource(t, `
metadata: {name: es}
spec:
  nodeSets:
  - {name: masters, count: 3}
  - name: data
    count: 2
    podTemplate: {spec: {affinity: {}}}
    volumeClaimTemplates: [{metadata: {name: elasticsearch-data}, spec: {storageClassName: fast}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].StatefulSet.Name != "es-es-masters" || ps[1].StatefulSet.Name != "es-es-data" || ps[1].Set != 1 {
		t.Fatalf("projections: %d", len(ps))
	}
	m, d := ps[0].StatefulSet, ps[1].StatefulSet
	if *m.Spec.Replicas != 3 || m.Spec.Selector.MatchLabels["elasticsearch.k8s.elastic.co/statefulset-name"] != "es-es-masters" {
		t.Errorf("masters: %d %v", *m.Spec.Replicas, m.Spec.Selector.MatchLabels)
	}
	if a := m.Spec.Template.Spec.Affinity; a == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchLabels["elasticsearch.k8s.elastic.co/cluster-name"] != "es" {
		t.Errorf("masters: ECK's default affinity: %+v", a)
	}
	if c := m.Spec.VolumeClaimTemplates; len(c) != 1 || c[0].Name != "elasticsearch-data" || c[0].Spec.Resources.Requests.Storage().String() != "1Gi" {
		t.Errorf("masters: ECK's default claim: %+v", c)
	}
	if d.Spec.Template.Spec.Affinity == nil || d.Spec.Template.Spec.Affinity.PodAntiAffinity != nil {
		t.Errorf("data: an affinity of its own, even empty, replaces ECK's default: %+v", d.Spec.Template.Spec.Affinity)
	}
	if got, _ := ps[1].Path("spec.volumeClaimTemplates[0].spec.storageClassName"); got != "spec.nodeSets[1].volumeClaimTemplates[0].spec.storageClassName" {
		t.Errorf("data: claim path %s", got)
	}
	if !ps[0].OwnBudget {
		t.Error("ECK makes its own budget")
	}

	// The fix for masters writes the whole affinity and claim list (ECK's defaults plus the
	// change), starting the pod template from the CRD's skeleton.
	fixed := m.DeepCopy()
	fixed.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = fixed.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[:0]
	fixed.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight = 50
	ops, unmapped, _, err := ps[0].Patch(fixed)
	if err != nil || len(unmapped) != 0 || len(ops) != 1 || ops[0].Path != "/spec/nodeSets/0/podTemplate" {
		t.Fatalf("patch: %v %v %v", ops, unmapped, err)
	}
	tmpl := ops[0].Value.(map[string]any)["spec"].(map[string]any)
	if _, ok := tmpl["containers"]; !ok {
		t.Errorf("the new pod template lacks the containers the CRD requires: %v", tmpl)
	}

	// Budget: {} turns ECK's off.
	ps, _ = Project(k, resource(t, "metadata: {name: es}\nspec: {podDisruptionBudget: {}, nodeSets: [{name: a, count: 1}]}\n"))
	if ps[0].OwnBudget {
		t.Error("podDisruptionBudget: {} disables ECK's budget")
	}
}

// RabbitMQ: the operator's zone spread and claim, merged with spec.override.statefulSet as the
// operator merges it; a fix goes where the operator reads the field.
func TestProjectRabbitmqCluster(t *testing.T) {
	k := Lookup("rabbitmq.com/v1beta1", "RabbitmqCluster")
	p, err := project1(t, k, resource(t, "metadata: {name: mq}\nspec: {replicas: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := p.StatefulSet
	if s.Name != "mq-server" || *s.Spec.Replicas != 3 || s.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "mq" {
		t.Errorf("name, replicas or selector: %s %d %v", s.Name, *s.Spec.Replicas, s.Spec.Selector.MatchLabels)
	}
	if c := s.Spec.Template.Spec.TopologySpreadConstraints; len(c) != 1 || c[0].TopologyKey != "topology.kubernetes.io/zone" || c[0].WhenUnsatisfiable != "ScheduleAnyway" {
		t.Errorf("the operator's default spread: %+v", c)
	}
	if c := s.Spec.VolumeClaimTemplates; len(c) != 1 || c[0].Name != "persistence" || c[0].Spec.Resources.Requests.Storage().String() != "10Gi" || c[0].Spec.StorageClassName != nil {
		t.Errorf("the operator's default claim: %+v", c)
	}
	// A fix of the spread, which the pod spec has no field for but the override, starts the
	// override's pod spec with the containers the CRD requires.
	fixed := s.DeepCopy()
	fixed.Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "DoNotSchedule"
	class := "ssd"
	fixed.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &class
	ops, unmapped, _, err := p.Patch(fixed)
	if err != nil || len(unmapped) != 0 {
		t.Fatal(ops, unmapped, err)
	}
	var paths []string
	for _, op := range ops {
		paths = append(paths, op.Operation+" "+op.Path)
	}
	if diff := cmp.Diff([]string{"add /spec/override", "add /spec/persistence"}, paths); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	if sp, _ := get(map[string]any{"spec": map[string]any{"override": ops[0].Value}}, "spec.override.statefulSet.spec.template.spec"); sp.(map[string]any)["containers"] == nil {
		t.Errorf("override pod spec without containers: %v", ops[0].Value)
	}

	// Override: merged by topologyKey with the default, replicas and claims replaced; the
	// annotation turns the default spread off; storage 0 means no claim.
	p, err = project1(t, k, resource(t, `
metadata: {name: mq}
spec:
  replicas: 3
  persistence: {storage: 0}
  override:
    statefulSet:
      spec:
        replicas: 5
        template:
          spec:
            containers: []
            topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s = p.StatefulSet
	if *s.Spec.Replicas != 5 || len(s.Spec.Template.Spec.TopologySpreadConstraints) != 2 || len(s.Spec.VolumeClaimTemplates) != 0 {
		t.Errorf("merged: replicas %d, spread %+v, claims %d", *s.Spec.Replicas, s.Spec.Template.Spec.TopologySpreadConstraints, len(s.Spec.VolumeClaimTemplates))
	}
	if got, _ := p.Path("spec.replicas"); got != "spec.override.statefulSet.spec.replicas" {
		t.Errorf("replicas set by the override are reported there, not at %s", got)
	}
	p, _ = project1(t, k, resource(t, "metadata: {name: mq, annotations: {rabbitmq.com/disable-default-topology-spread-constraints: 'true'}}\nspec: {}\n"))
	if c := p.StatefulSet.Spec.Template.Spec.TopologySpreadConstraints; len(c) != 0 {
		t.Errorf("the annotation turns the default spread off: %+v", c)
	}
}

// mariadb-operator: antiAffinityEnabled stands for a required hostname term, the claim comes
// from spec.storage as the operator builds it, and a budget is the operator's when asked for
// or for Galera and replication.
func TestProjectMariaDB(t *testing.T) {
	k := Lookup("k8s.mariadb.com/v1alpha1", "MariaDB")
	p, err := project1(t, k, resource(t, "metadata: {name: db}\nspec: {affinity: {antiAffinityEnabled: true}, storage: {size: 1Gi}, galera: {enabled: true}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := p.StatefulSet
	if s.Name != "db" || *s.Spec.Replicas != 1 || !p.OwnBudget {
		t.Errorf("name %s, replicas %d, own budget %v", s.Name, *s.Spec.Replicas, p.OwnBudget)
	}
	req := s.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if len(req) != 1 || req[0].TopologyKey != "kubernetes.io/hostname" || req[0].LabelSelector.MatchExpressions[0].Values[0] != "db" {
		t.Errorf("antiAffinityEnabled: %+v", req)
	}
	c := s.Spec.VolumeClaimTemplates
	if len(c) != 2 || c[0].Name != "storage" || c[0].Spec.Resources.Requests.Storage().String() != "1Gi" || c[1].Name != "galera" {
		t.Fatalf("claims: %+v", c)
	}
	for sts, want := range map[string]string{
		"spec.volumeClaimTemplates[0].spec.storageClassName": "spec.storage.storageClassName",
		"spec.volumeClaimTemplates[1].spec.storageClassName": "spec.galera.config.volumeClaimTemplate.storageClassName",
		"spec.template.spec.affinity.podAntiAffinity":        "spec.affinity.podAntiAffinity",
	} {
		if got, _ := p.Path(sts); got != want {
			t.Errorf("Path(%s) = %s, want %s", sts, got, want)
		}
	}

	// A claim template of its own: its class is fixed in it, and it is kept as it is when
	// spec.storage.size agrees with it.
	p, _ = project1(t, k, resource(t, "metadata: {name: db}\nspec: {storage: {size: 2Gi, volumeClaimTemplate: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}, metadata: {labels: {a: b}}}}}\n"))
	if c := p.StatefulSet.Spec.VolumeClaimTemplates; len(c) != 1 || c[0].Labels["a"] != "b" || p.OwnBudget {
		t.Errorf("claim template kept: %+v; own budget %v", c, p.OwnBudget)
	}
	if got, _ := p.Path("spec.volumeClaimTemplates[0].spec.storageClassName"); got != "spec.storage.volumeClaimTemplate.storageClassName" {
		t.Errorf("class path %s", got)
	}
	p, _ = project1(t, k, resource(t, "metadata: {name: db}\nspec: {storage: {ephemeral: true}, podDisruptionBudget: {maxUnavailable: 1}}\n"))
	if len(p.StatefulSet.Spec.VolumeClaimTemplates) != 0 || !p.OwnBudget {
		t.Errorf("ephemeral: %+v, own budget %v", p.StatefulSet.Spec.VolumeClaimTemplates, p.OwnBudget)
	}
}

// Strimzi: a node pool judged as the pods its StrimziPodSet makes; claims per persistent-claim
// volume; the pod template held when Strimzi takes it from the Kafka; the pod-name label.
func TestProjectKafkaNodePool(t *testing.T) {
	k := Lookup("kafka.strimzi.io/v1beta2", "KafkaNodePool")
	if k == nil || Lookup("kafka.strimzi.io/v1", "KafkaNodePool") != k || !k.NotStatefulSet || !k.OwnBudget {
		t.Fatal("KafkaNodePool: v1beta2 and v1, not a StatefulSet, Strimzi's budget")
	}
	p, err := project1(t, k, resource(t, `
metadata: {name: broker, labels: {strimzi.io/cluster: my}}
spec:
  replicas: 3
  roles: [broker]
  storage: {type: jbod, volumes: [{id: 0, type: persistent-claim, size: 1Gi}, {id: 1, type: ephemeral}, {id: 2, type: persistent-claim, size: 2Gi, class: fast}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.StatefulSet
	if s.Name != "my-broker" || !p.LabelsKnown || s.Spec.Selector.MatchLabels["strimzi.io/name"] != "my-kafka" || s.Spec.Selector.MatchLabels["strimzi.io/pool-name"] != "broker" {
		t.Errorf("name %s, selector %v, labels known %v", s.Name, s.Spec.Selector.MatchLabels, p.LabelsKnown)
	}
	c := s.Spec.VolumeClaimTemplates
	if len(c) != 2 || c[0].Name != "data-0" || c[1].Name != "data-2" || *c[1].Spec.StorageClassName != "fast" {
		t.Fatalf("claims: %+v", c)
	}
	if got, _ := p.Path("spec.volumeClaimTemplates[1].spec.storageClassName"); got != "spec.storage.volumes[2].class" {
		t.Errorf("class of the second claim at %s", got)
	}
	if p.Held == "" || !p.IsHeld("spec.template.pod.affinity") || p.IsHeld("spec.storage.volumes[0].class") {
		t.Errorf("no spec.template.pod: the pod template is held, the storage is not: %q", p.Held)
	}
	fixed := s.DeepCopy()
	fixed.Spec.Template.Spec.Tolerations = append(fixed.Spec.Template.Spec.Tolerations, fixed.Spec.Template.Spec.Tolerations...)
	fixed.Spec.Template.Spec.PriorityClassName = "high"
	ops, _, held, err := p.Patch(fixed)
	if err != nil || len(ops) != 0 || len(held) != 1 || held[0] != "spec.template.pod.priorityClassName" {
		t.Errorf("held: %v %v %v", ops, held, err)
	}

	// With a pod template, its anti-affinity over strimzi.io/pod-name is what the StatefulSet's
	// would be over statefulset.kubernetes.io/pod-name, and a fix writes it back that way.
	p, _ = project1(t, k, resource(t, `
metadata: {name: b, labels: {strimzi.io/cluster: my}}
spec:
  replicas: 3
  storage: {type: ephemeral}
  template: {pod: {affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchExpressions: [{key: strimzi.io/pod-name, operator: Exists}]}}]}}}}
`))
	term := p.StatefulSet.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.LabelSelector.MatchExpressions[0].Key != "statefulset.kubernetes.io/pod-name" || p.Held != "" {
		t.Errorf("projected term: %+v, held %q", term, p.Held)
	}
	fixed = p.StatefulSet.DeepCopy()
	fixed.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey = "x"
	ops, _, _, _ = p.Patch(fixed)
	if data, _ := json.Marshal(ops); strings.Contains(string(data), "statefulset.kubernetes.io") || len(ops) == 0 {
		t.Errorf("patch: %s", data)
	}

	// Without the strimzi.io/cluster label the pods' labels are not known.
	p, _ = project1(t, k, resource(t, "metadata: {name: b}\nspec: {replicas: 1, storage: {type: ephemeral}}\n"))
	if p.LabelsKnown {
		t.Error("no strimzi.io/cluster label: labels not known")
	}
}
