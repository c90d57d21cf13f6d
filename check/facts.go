package check

import (
	"bytes"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/policy"
)

// clusterFacts are what the inputs say about the cluster: the PodDisruptionBudgets per
// namespace, and the labels of Namespaces defined in the input.
type clusterFacts struct {
	budgets    map[string][]*policyv1.PodDisruptionBudget
	namespaces map[string]map[string]string
}

func (f *clusterFacts) namespaceLabels(ns string) map[string]string {
	if l, ok := f.namespaces[ns]; ok {
		return l
	}
	return policy.NamespaceLabels(ns)
}

var (
	kindBudget    = []byte("PodDisruptionBudget")
	kindNamespace = []byte("Namespace")
)

// budgetInPlace reports whether the input already defines the budget Stowage wants: one of that
// name that selects the StatefulSet's pods. A budget of that name that no longer selects them
// (the selector changed since an earlier `--fix`) is stale: it is judged by what it selects,
// never by its name, and the generated one replaces it.
func (f *clusterFacts) budgetInPlace(sts *appsv1.StatefulSet, name string) bool {
	for _, b := range policy.BudgetsSelecting(sts, f.budgets[sts.Namespace]) {
		if b.Name == name {
			return true
		}
	}
	return false
}

// addBudget records a budget. A later definition of the same namespace/name replaces an earlier
// one, as applying both would.
func (f *clusterFacts) addBudget(pdb *policyv1.PodDisruptionBudget) {
	list := f.budgets[pdb.Namespace]
	for i, have := range list {
		if have.Name == pdb.Name {
			list[i] = pdb
			return
		}
	}
	f.budgets[pdb.Namespace] = append(list, pdb)
}

// gatherFacts reads the budgets and namespaces out of the inputs. Only documents that can hold
// one are parsed, and problems are left for the main pass to report.
func gatherFacts(inputs []*input, defaultNamespace string) *clusterFacts {
	f := &clusterFacts{budgets: map[string][]*policyv1.PodDisruptionBudget{}, namespaces: map[string]map[string]string{}}
	for _, in := range inputs {
		data, err := in.read()
		if err != nil || !bytes.Contains(data, kindBudget) && !bytes.Contains(data, kindNamespace) {
			continue
		}
		index := 0
		for _, c := range stream.Split(data) {
			if !bytes.Contains(c.Text, kindBudget) && !bytes.Contains(c.Text, kindNamespace) {
				continue
			}
			stream.ReadChunk(in.name, c, &index, func(d *stream.Document) error {
				switch {
				case d.Kind == "PodDisruptionBudget" && d.APIVersion == "policy/v1":
					pdb := &policyv1.PodDisruptionBudget{}
					if _, err := stream.Decode(d, pdb); err == nil {
						if pdb.Namespace == "" {
							pdb.Namespace = defaultNamespace
						}
						f.addBudget(pdb)
					}
				case d.Kind == "Namespace" && d.APIVersion == "v1":
					ns := &corev1.Namespace{}
					if _, err := stream.Decode(d, ns); err == nil && ns.Name != "" {
						labels := map[string]string{}
						for k, v := range ns.Labels {
							labels[k] = v
						}
						labels[corev1.LabelMetadataName] = ns.Name // the API server always sets it so
						f.namespaces[ns.Name] = labels
					}
				}
				return nil
			})
		}
	}
	return f
}
