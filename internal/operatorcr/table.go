// Package operatorcr projects operator custom resources that will become StatefulSets onto the
// StatefulSets the operator makes (one, or one per entry of a list such as ECK's node sets; for
// Strimzi, the pods its StrimziPodSet makes the way a StatefulSet would), so that the policy
// engine judges them with the same rules, and maps the engine's findings and fixes back to the
// resource's own fields. It is an adapter: it holds no rule. Everything it knows about an
// operator is one entry of Kinds.
//
// It may import the standard library, k8s.io/api, apimachinery and the JSON patch types.
package operatorcr

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	kresource "k8s.io/apimachinery/pkg/api/resource"
)

// Kind is one operator custom resource that becomes StatefulSets (or, for NotStatefulSet, pods
// made the way a StatefulSet makes them).
type Kind struct {
	// Operator names the operator, for reports.
	Operator string
	// Group and Kind identify the resource; Versions are the served versions it is read at.
	Group, Kind string
	Versions    []string
	// Sets, when not empty, is the resource path of a list each of whose entries becomes one
	// StatefulSet (ECK's spec.nodeSets); "[]" in the paths below stands for the entry's index,
	// and "{set}" in names and labels for the entry's SetName field.
	Sets, SetName string
	// StatefulSet is the name of the StatefulSet the operator makes; "{name}" is the resource's
	// name.
	StatefulSet string
	// NotStatefulSet says that the operator makes the pods through another controller than a
	// StatefulSet (Strimzi's StrimziPodSet), so the webhook never sees them: the resource is
	// judged with the same rules, and the resource is the only place to fix them.
	NotStatefulSet bool
	// Selector holds the labels the operator puts on the pods and selects them with; "{name}"
	// is the resource's name and "{label:KEY}" the value of the resource's label KEY (unknown
	// when the resource lacks it). LabelsKnown is false when the operator labels its pods in a
	// way that cannot be known offline; the anti-affinity and budget found for the projection
	// are then reported as warnings only.
	Selector    map[string]string
	LabelsKnown bool
	// PodLabels is the resource path of extra labels the operator adds to the pods.
	PodLabels string
	// OwnBudget says whether the operator makes a PodDisruptionBudget for the pods itself; when
	// it does, Stowage proposes none. BudgetIf, when set, decides it per resource instead.
	OwnBudget bool
	BudgetIf  func(obj map[string]any) bool
	// DefaultReplicas is what the operator runs when the resource names no replicas.
	DefaultReplicas int64
	// Fields map StatefulSet paths to the resource paths the operator copies them from.
	Fields []Field
	// ClaimTemplate is the resource path of the one volume claim template, and ClaimName the
	// name the operator gives it when the template names none ("{name}" as above).
	ClaimTemplate, ClaimName string
	// Claims, for operators that build their claim templates from fields of their own (a
	// storage class and a size), returns the claim templates for a resource and the Fields that
	// map each claim field to the resource field it comes from.
	Claims func(obj map[string]any, name string) (claims []any, fields []Field, err error)
	// Override is the resource path of a StatefulSet the operator merges into the one it makes
	// (RabbitMQ's spec.override.statefulSet), as a strategic merge patch. A field the override
	// sets is read, reported and fixed there.
	Override string
	// Inherited is a resource path the operator fills from another resource when it is absent
	// (Strimzi takes a node pool's pod template from its Kafka); InheritedFrom says so. Without
	// it, findings under it are warnings and nothing is written there.
	Inherited, InheritedFrom string
	// Skeletons are what a fix starts from when it has to add an object the resource lacks
	// (by resource path, "[]" for list indexes): the fields the CRD requires there, such as
	// the containers list of a pod template.
	Skeletons map[string]map[string]any
	// PodNameLabel is the label that names each pod when the pods are not a StatefulSet's
	// (Strimzi's strimzi.io/pod-name): it stands for statefulset.kubernetes.io/pod-name, which
	// the anti-affinity Stowage adds requires, in both directions.
	PodNameLabel string
}

// Field maps a StatefulSet path to the resource path the operator copies it from. Paths are
// dotted, as field.Path prints them.
type Field struct {
	StatefulSet, Resource string
	// Default is the JSON value the operator uses when the resource has none ("{name}" and
	// "{set}" in its strings filled in). It applies only when the resource field DefaultIf is
	// true, and not when the resource's annotation DefaultUnlessAnnotation is "true".
	Default                 any
	DefaultIf               string
	DefaultUnlessAnnotation string
	// PathOnly fields map findings but are never written by a fix.
	PathOnly bool
}

// prometheusOperator are the fields prometheus-operator copies from a Prometheus, Alertmanager
// or ThanosRuler into the pod template (pkg/prometheus/server/statefulset.go,
// pkg/alertmanager/statefulset.go, pkg/thanos/statefulset.go at v0.85.0).
var prometheusOperator = []Field{
	{StatefulSet: "spec.replicas", Resource: "spec.replicas"},
	{StatefulSet: "spec.template.spec.affinity", Resource: "spec.affinity"},
	{StatefulSet: "spec.template.spec.topologySpreadConstraints", Resource: "spec.topologySpreadConstraints"},
	{StatefulSet: "spec.template.spec.nodeSelector", Resource: "spec.nodeSelector"},
	{StatefulSet: "spec.template.spec.tolerations", Resource: "spec.tolerations"},
	{StatefulSet: "spec.template.spec.priorityClassName", Resource: "spec.priorityClassName"},
}

// A Prometheus with spec.shards > 1 makes one StatefulSet per shard from the same fields, its
// pods labelled operator.prometheus.io/shard=N. The projection leaves that label out of the
// selector, so the terms and the budget it proposes cover the pods of every shard: never fewer
// than the StatefulSet's own.
//
// Kinds is the table of custom resources Stowage judges. Adding an operator is one entry here
// plus fixtures in testdata built from its published schema.
var Kinds = []Kind{
	{
		Operator: "prometheus-operator", Group: "monitoring.coreos.com", Kind: "Prometheus", Versions: []string{"v1"},
		StatefulSet: "prometheus-{name}",
		Selector: map[string]string{"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
			"app.kubernetes.io/instance": "{name}", "operator.prometheus.io/name": "{name}", "prometheus": "{name}"},
		LabelsKnown: true, PodLabels: "spec.podMetadata.labels", DefaultReplicas: 1, Fields: prometheusOperator,
		ClaimTemplate: "spec.storage.volumeClaimTemplate", ClaimName: "prometheus-{name}-db",
	},
	{
		Operator: "prometheus-operator", Group: "monitoring.coreos.com", Kind: "Alertmanager", Versions: []string{"v1"},
		StatefulSet: "alertmanager-{name}",
		Selector: map[string]string{"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/managed-by": "prometheus-operator",
			"app.kubernetes.io/instance": "{name}", "alertmanager": "{name}"},
		LabelsKnown: true, PodLabels: "spec.podMetadata.labels", DefaultReplicas: 1, Fields: prometheusOperator,
		ClaimTemplate: "spec.storage.volumeClaimTemplate", ClaimName: "alertmanager-{name}-db",
	},
	{
		Operator: "prometheus-operator", Group: "monitoring.coreos.com", Kind: "ThanosRuler", Versions: []string{"v1"},
		StatefulSet: "thanos-ruler-{name}",
		Selector: map[string]string{"app.kubernetes.io/name": "thanos-ruler", "app.kubernetes.io/managed-by": "prometheus-operator",
			"app.kubernetes.io/instance": "{name}", "thanos-ruler": "{name}"},
		LabelsKnown: true, PodLabels: "spec.podMetadata.labels", DefaultReplicas: 1, Fields: prometheusOperator,
		ClaimTemplate: "spec.storage.volumeClaimTemplate", ClaimName: "thanos-ruler-{name}-data",
	},
	{
		Operator: "ECK", Group: "elasticsearch.k8s.elastic.co", Kind: "Elasticsearch", Versions: []string{"v1"},
		Sets: "spec.nodeSets", SetName: "name", StatefulSet: "{name}-es-{set}",
		Selector: map[string]string{"elasticsearch.k8s.elastic.co/cluster-name": "{name}", "common.k8s.elastic.co/type": "elasticsearch",
			"elasticsearch.k8s.elastic.co/statefulset-name": "{name}-es-{set}"},
		LabelsKnown: true, PodLabels: "spec.nodeSets[].podTemplate.metadata.labels", BudgetIf: eckBudget, Fields: eckNodeSet,
		// The CRD requires containers in a pod template; ECK merges them by name into its own.
		Skeletons: map[string]map[string]any{"spec.nodeSets[].podTemplate.spec": {"containers": []any{}}},
	},
	{
		Operator: "RabbitMQ cluster operator", Group: "rabbitmq.com", Kind: "RabbitmqCluster", Versions: []string{"v1beta1"},
		StatefulSet: "{name}-server", Selector: map[string]string{"app.kubernetes.io/name": "{name}"},
		LabelsKnown: true, DefaultReplicas: 1, Fields: rabbitmqFields, Claims: rabbitmqClaims,
		Override: "spec.override.statefulSet",
		// The CRD requires containers in the override's pod spec; the operator merges them by
		// name into its own.
		Skeletons: map[string]map[string]any{"spec.override.statefulSet.spec.template.spec": {"containers": []any{}}},
	},
	{
		Operator: "mariadb-operator", Group: "k8s.mariadb.com", Kind: "MariaDB", Versions: []string{"v1alpha1"},
		StatefulSet: "{name}", Selector: map[string]string{"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": "{name}"},
		LabelsKnown: true, PodLabels: "spec.podMetadata.labels", BudgetIf: mariadbBudget, DefaultReplicas: 1,
		Fields: mariadbFields, Claims: mariadbClaims,
	},
	{
		Operator: "Strimzi", Group: "kafka.strimzi.io", Kind: "KafkaNodePool", Versions: []string{"v1beta2", "v1"},
		StatefulSet: "{label:strimzi.io/cluster}-{name}", NotStatefulSet: true,
		Selector: map[string]string{"strimzi.io/cluster": "{label:strimzi.io/cluster}", "strimzi.io/name": "{label:strimzi.io/cluster}-kafka",
			"strimzi.io/kind": "Kafka", "strimzi.io/pool-name": "{name}"},
		LabelsKnown: true, PodLabels: "spec.template.pod.metadata.labels", OwnBudget: true, Fields: strimziPool, Claims: strimziClaims,
		PodNameLabel:  "strimzi.io/pod-name",
		Inherited:     "spec.template.pod",
		InheritedFrom: "without spec.template.pod Strimzi takes the pod template from the Kafka's spec.kafka.template.pod, which check does not read",
	},
}

// ECK's Elasticsearch makes one StatefulSet per entry of spec.nodeSets, named
// <name>-es-<nodeSet>, from the entry's count, podTemplate and volumeClaimTemplates
// (pkg/controller/elasticsearch/nodespec/statefulset.go, podspec.go, defaults.go and
// volume/defaults.go in github.com/elastic/cloud-on-k8s/v3 v3.5.0). Without an affinity in the
// podTemplate it sets a preferred hostname anti-affinity over the whole cluster; without claim
// templates it claims 1Gi as elasticsearch-data. It makes a PodDisruptionBudget over the
// cluster unless spec.podDisruptionBudget is {} (pdb/reconcile_default.go).
var eckNodeSet = []Field{
	{StatefulSet: "spec.replicas", Resource: "spec.nodeSets[].count"},
	{StatefulSet: "spec.template.spec.affinity", Resource: "spec.nodeSets[].podTemplate.spec.affinity",
		Default: map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{
			map[string]any{"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname",
				"labelSelector": map[string]any{"matchLabels": map[string]any{"elasticsearch.k8s.elastic.co/cluster-name": "{name}"}}}}}}}},
	{StatefulSet: "spec.template.spec.topologySpreadConstraints", Resource: "spec.nodeSets[].podTemplate.spec.topologySpreadConstraints"},
	{StatefulSet: "spec.template.spec.nodeSelector", Resource: "spec.nodeSets[].podTemplate.spec.nodeSelector"},
	{StatefulSet: "spec.template.spec.tolerations", Resource: "spec.nodeSets[].podTemplate.spec.tolerations"},
	{StatefulSet: "spec.template.spec.priorityClassName", Resource: "spec.nodeSets[].podTemplate.spec.priorityClassName"},
	{StatefulSet: "spec.volumeClaimTemplates", Resource: "spec.nodeSets[].volumeClaimTemplates",
		Default: []any{map[string]any{"metadata": map[string]any{"name": "elasticsearch-data"},
			"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}}}},
}

// eckBudget: ECK makes its budget unless spec.podDisruptionBudget is empty.
func eckBudget(obj map[string]any) bool {
	v, ok := get(obj, "spec.podDisruptionBudget")
	m, isMap := v.(map[string]any)
	return !ok || !isMap || len(m) > 0
}

// The RabbitMQ cluster operator makes <name>-server from spec.replicas, spec.affinity and
// spec.tolerations, adds a zone spread constraint over its pods (ScheduleAnyway) unless the
// annotation rabbitmq.com/disable-default-topology-spread-constraints is "true", claims
// spec.persistence.storage (default 10Gi; none when 0) of spec.persistence.storageClassName as
// "persistence", and then merges spec.override.statefulSet into the StatefulSet: the pod spec
// as a strategic merge patch, replicas and claim templates replacing its own
// (internal/resource/statefulset.go and internal/metadata/label.go at v2.22.3). The pod spec
// has no other field for a spread constraint, a node selector or a priority class than the
// override. It makes no PodDisruptionBudget.
var rabbitmqFields = []Field{
	{StatefulSet: "spec.replicas", Resource: "spec.replicas"},
	{StatefulSet: "spec.template.spec.affinity", Resource: "spec.affinity"},
	{StatefulSet: "spec.template.spec.tolerations", Resource: "spec.tolerations"},
	{StatefulSet: "spec.template.spec.topologySpreadConstraints", Resource: "spec.override.statefulSet.spec.template.spec.topologySpreadConstraints",
		Default: []any{map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
			"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "{name}"}}}},
		DefaultUnlessAnnotation: "rabbitmq.com/disable-default-topology-spread-constraints"},
	{StatefulSet: "spec.template.spec.nodeSelector", Resource: "spec.override.statefulSet.spec.template.spec.nodeSelector"},
	{StatefulSet: "spec.template.spec.priorityClassName", Resource: "spec.override.statefulSet.spec.template.spec.priorityClassName"},
}

// rabbitmqClaims is the operator's "persistence" claim template.
func rabbitmqClaims(obj map[string]any, name string) ([]any, []Field, error) {
	storage, ok := get(obj, "spec.persistence.storage")
	if !ok || storage == nil {
		storage = "10Gi" // the CRD's default
	}
	q, err := quantity(storage)
	if err != nil {
		return nil, nil, fmt.Errorf("spec.persistence.storage: %v", err)
	}
	if q.IsZero() {
		return nil, nil, nil
	}
	spec := map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": storage}}}
	if class, ok := get(obj, "spec.persistence.storageClassName"); ok && class != nil {
		spec["storageClassName"] = class
	}
	claim := map[string]any{"metadata": map[string]any{"name": "persistence", "labels": map[string]any{
		"app.kubernetes.io/name": name, "app.kubernetes.io/component": "rabbitmq", "app.kubernetes.io/part-of": "rabbitmq"}}, "spec": spec}
	return []any{claim}, []Field{
		{StatefulSet: "spec.volumeClaimTemplates[0].spec.storageClassName", Resource: "spec.persistence.storageClassName"},
		{StatefulSet: "spec.volumeClaimTemplates[0].spec.resources.requests.storage", Resource: "spec.persistence.storage"},
		{StatefulSet: "spec.volumeClaimTemplates[0]", Resource: "spec.persistence", PathOnly: true},
	}, nil
}

// mariadb-operator makes the StatefulSet <name> from spec.replicas (default 1), spec.affinity
// (its own Affinity type: podAntiAffinity and nodeAffinity only; with antiAffinityEnabled and
// no podAntiAffinity it requires app.kubernetes.io/instance=<name> pods on distinct
// hostnames), spec.topologySpreadConstraints, spec.nodeSelector, spec.tolerations,
// spec.priorityClassName and spec.podMetadata.labels (api/v1alpha1/base_types.go
// AffinityConfig.SetDefaults, pkg/builder/statefulset_builder.go and pod_builder.go at
// mariadb-operator-26.6.0). It makes a PodDisruptionBudget when spec.podDisruptionBudget is
// set, and one of its own for Galera or replication (internal/controller/mariadb_controller.go).
var mariadbFields = []Field{
	{StatefulSet: "spec.replicas", Resource: "spec.replicas"},
	{StatefulSet: "spec.template.spec.affinity.podAntiAffinity", Resource: "spec.affinity.podAntiAffinity",
		Default: map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{
			"topologyKey": "kubernetes.io/hostname",
			"labelSelector": map[string]any{"matchExpressions": []any{map[string]any{
				"key": "app.kubernetes.io/instance", "operator": "In", "values": []any{"{name}"}}}}}}},
		DefaultIf: "spec.affinity.antiAffinityEnabled"},
	{StatefulSet: "spec.template.spec.affinity.nodeAffinity", Resource: "spec.affinity.nodeAffinity"},
	{StatefulSet: "spec.template.spec.topologySpreadConstraints", Resource: "spec.topologySpreadConstraints"},
	{StatefulSet: "spec.template.spec.nodeSelector", Resource: "spec.nodeSelector"},
	{StatefulSet: "spec.template.spec.tolerations", Resource: "spec.tolerations"},
	{StatefulSet: "spec.template.spec.priorityClassName", Resource: "spec.priorityClassName"},
}

// mariadbBudget: a budget when one is asked for, and for Galera or replication.
func mariadbBudget(obj map[string]any) bool {
	pdb, _ := get(obj, "spec.podDisruptionBudget")
	galera, _ := get(obj, "spec.galera.enabled")
	replication, _ := get(obj, "spec.replication.enabled")
	return pdb != nil || galera == true || replication == true
}

// mariadbClaims are the "storage" claim (api/v1alpha1/mariadb_types.go Storage.SetDefaults:
// spec.storage.size and storageClassName rebuild the claim template unless it already has that
// size and class; pkg/builder/statefulset_builder.go) and, for Galera without
// reuseStorageVolume, the "galera" claim (100Mi by default; mariadb_galera_types.go).
func mariadbClaims(obj map[string]any, _ string) ([]any, []Field, error) {
	if eph, _ := get(obj, "spec.storage.ephemeral"); eph == true {
		return nil, nil, nil
	}
	var claims []any
	var fields []Field
	claim := func(name, base string, spec, meta map[string]any, fromSize bool) {
		i := len(claims)
		at := func(p string) string { return "spec.volumeClaimTemplates[" + strconv.Itoa(i) + "]" + p }
		labels := map[string]any{"pvc.k8s.mariadb.com/role": name}
		if l, ok := meta["labels"].(map[string]any); ok {
			for k, v := range l {
				labels[k] = v
			}
		}
		m := map[string]any{"name": name, "labels": labels}
		if a, ok := meta["annotations"]; ok {
			m["annotations"] = a
		}
		claims = append(claims, map[string]any{"metadata": m, "spec": spec})
		if fromSize {
			fields = append(fields, Field{StatefulSet: at(".spec.storageClassName"), Resource: base + ".storageClassName"},
				Field{StatefulSet: at(".spec.resources.requests.storage"), Resource: base + ".size"})
		} else {
			tmpl := base + ".volumeClaimTemplate"
			if name == "galera" {
				tmpl = base
			}
			fields = append(fields, Field{StatefulSet: at(".spec.storageClassName"), Resource: tmpl + ".storageClassName"},
				Field{StatefulSet: at(".spec.resources"), Resource: tmpl + ".resources"},
				Field{StatefulSet: at(".spec.accessModes"), Resource: tmpl + ".accessModes"})
		}
		fields = append(fields, Field{StatefulSet: at(""), Resource: base, PathOnly: true})
	}
	vct, _ := get(obj, "spec.storage.volumeClaimTemplate")
	tmpl, _ := vct.(map[string]any)
	size, hasSize := get(obj, "spec.storage.size")
	class, _ := get(obj, "spec.storage.storageClassName")
	if hasSize && size != nil {
		q, err := quantity(size)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.storage.size: %v", err)
		}
		rebuild := tmpl == nil
		if !rebuild {
			cur, ok := get(tmpl, "resources.requests.storage")
			cq, err := quantity(cur)
			rebuild = !ok || err != nil || q.Cmp(cq) != 0 || (class != nil && class != "" && class != tmpl["storageClassName"])
		}
		if rebuild {
			spec := map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": size}}}
			if class != nil && class != "" {
				spec["storageClassName"] = class
			}
			claim("storage", "spec.storage", spec, nil, true)
			tmpl = nil
		}
	}
	if tmpl != nil {
		spec := map[string]any{}
		for k, v := range tmpl {
			if k != "metadata" {
				spec[k] = v
			}
		}
		meta, _ := tmpl["metadata"].(map[string]any)
		claim("storage", "spec.storage", spec, meta, false)
	}
	if galera, _ := get(obj, "spec.galera.enabled"); galera == true {
		if reuse, _ := get(obj, "spec.galera.config.reuseStorageVolume"); reuse != true {
			g, _ := get(obj, "spec.galera.config.volumeClaimTemplate")
			gt, _ := g.(map[string]any)
			spec := map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "100Mi"}}}
			var meta map[string]any
			if gt != nil {
				spec = map[string]any{}
				for k, v := range gt {
					if k != "metadata" {
						spec[k] = v
					}
				}
				meta, _ = gt["metadata"].(map[string]any)
			}
			claim("galera", "spec.galera.config.volumeClaimTemplate", spec, meta, false)
		}
	}
	return claims, fields, nil
}

// Strimzi makes a KafkaNodePool's pods through a StrimziPodSet <cluster>-<pool>, not a
// StatefulSet, each with claims data (persistent-claim) or data-<id> (each persistent-claim
// volume of a jbod), of spec.storage's class and size; the pod template is the pool's
// spec.template.pod when it has one, else the Kafka's spec.kafka.template.pod
// (cluster-operator/.../model/KafkaPool.java, KafkaCluster.java, VolumeUtils.java and
// operator-common/.../Labels.java strimziSelectorLabels at 1.2.0). Its pods are selected by
// strimzi.io/cluster (the pool's own strimzi.io/cluster label), strimzi.io/name
// (<cluster>-kafka), strimzi.io/kind and strimzi.io/pool-name, and Strimzi makes one
// PodDisruptionBudget over the whole cluster.
var strimziPool = []Field{
	{StatefulSet: "spec.replicas", Resource: "spec.replicas"},
	{StatefulSet: "spec.template.spec.affinity", Resource: "spec.template.pod.affinity"},
	{StatefulSet: "spec.template.spec.topologySpreadConstraints", Resource: "spec.template.pod.topologySpreadConstraints"},
	{StatefulSet: "spec.template.spec.tolerations", Resource: "spec.template.pod.tolerations"},
	{StatefulSet: "spec.template.spec.priorityClassName", Resource: "spec.template.pod.priorityClassName"},
}

// strimziClaims are the claims of a persistent-claim storage or of a jbod's persistent-claim
// volumes.
func strimziClaims(obj map[string]any, _ string) ([]any, []Field, error) {
	var claims []any
	var fields []Field
	add := func(name, base string, v map[string]any) {
		i := "spec.volumeClaimTemplates[" + strconv.Itoa(len(claims)) + "]"
		spec := map[string]any{"accessModes": []any{"ReadWriteOnce"}}
		if size, ok := v["size"]; ok {
			spec["resources"] = map[string]any{"requests": map[string]any{"storage": size}}
		}
		if class, ok := v["class"]; ok {
			spec["storageClassName"] = class
		}
		claims = append(claims, map[string]any{"metadata": map[string]any{"name": name}, "spec": spec})
		fields = append(fields, Field{StatefulSet: i + ".spec.storageClassName", Resource: base + ".class"},
			Field{StatefulSet: i + ".spec.resources.requests.storage", Resource: base + ".size"},
			Field{StatefulSet: i, Resource: base, PathOnly: true})
	}
	st, _ := get(obj, "spec.storage")
	storage, _ := st.(map[string]any)
	switch storage["type"] {
	case "persistent-claim":
		add("data", "spec.storage", storage)
	case "jbod":
		vols, _ := storage["volumes"].([]any)
		for j, v := range vols {
			vol, _ := v.(map[string]any)
			if vol["type"] != "persistent-claim" {
				continue
			}
			name := "data"
			if id, ok := vol["id"]; ok && id != nil {
				name = fmt.Sprintf("data-%v", id)
			}
			add(name, "spec.storage.volumes["+strconv.Itoa(j)+"]", vol)
		}
	}
	return claims, fields, nil
}

// Lookup returns the table entry for an apiVersion and kind, or nil.
func Lookup(apiVersion, kind string) *Kind {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return nil
	}
	for i := range Kinds {
		k := &Kinds[i]
		if k.Kind != kind || k.Group != group {
			continue
		}
		for _, v := range k.Versions {
			if v == version {
				return k
			}
		}
	}
	return nil
}

// quantity reads a resource quantity as JSON holds it (a string or a number).
func quantity(v any) (kresource.Quantity, error) {
	var q kresource.Quantity
	data, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(data, &q)
	}
	return q, err
}
