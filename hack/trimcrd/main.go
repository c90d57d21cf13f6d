// Command trimcrd keeps what Stowage's operator fixtures need of an operator's published
// CustomResourceDefinition, so that check/testdata/operators/crds stays small: one served
// version, no descriptions, and under spec only the subtrees named with -keep in full. Every
// other property keeps its name and type (so an unknown or misspelt field is still caught) but
// loses its inner schema.
//
//	go run ./hack/trimcrd -version v1 -source 'URL at TAG' -keep spec.replicas,spec.affinity < crd.yaml > trimmed.yaml
//
// It may import the standard library and sigs.k8s.io/yaml.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	version := flag.String("version", "", "the served version to keep")
	keep := flag.String("keep", "", "comma-separated dotted paths under the version's openAPIV3Schema.properties to keep in full ([] steps into list items)")
	source := flag.String("source", "", "where the CRD comes from, written in a comment at the top")
	flag.Parse()
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(in, &crd); err != nil {
		fail(err)
	}
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	var kept []any
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] != *version {
			continue
		}
		delete(m, "additionalPrinterColumns")
		schema := m["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
		trim(schema, strings.Split(*keep, ","))
		kept = append(kept, m)
	}
	if len(kept) != 1 {
		fail(fmt.Errorf("version %q not found", *version))
	}
	spec["versions"] = kept
	delete(crd, "status")
	if meta, ok := crd["metadata"].(map[string]any); ok {
		delete(meta, "annotations")
		delete(meta, "creationTimestamp")
		delete(meta, "labels")
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		fail(err)
	}
	fmt.Printf("# Trimmed by hack/trimcrd from %s\n# (version %s; kept in full: %s).\n", *source, *version, *keep)
	os.Stdout.Write(out)
}

// trim shortens schema in place, keeping the paths in full.
func trim(schema map[string]any, keep []string) {
	var paths [][]string
	for _, k := range keep {
		if k = strings.TrimSpace(k); k != "" {
			paths = append(paths, strings.Split(strings.ReplaceAll(k, "[]", ".[]"), "."))
		}
	}
	walk(schema, paths)
}

func walk(s map[string]any, paths [][]string) {
	stripDescriptions(s)
	for _, p := range paths {
		if len(p) == 0 {
			return // kept in full
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		descend(items, paths, "[]")
		return
	}
	props, _ := s["properties"].(map[string]any)
	for name, v := range props {
		prop, _ := v.(map[string]any)
		descend(prop, paths, name)
	}
	delete(s, "x-kubernetes-validations")
}

// descend walks into the child schema s reached by step with the rest of the paths that take
// that step, or keeps only its type when none does.
func descend(s map[string]any, paths [][]string, step string) {
	var sub [][]string
	for _, p := range paths {
		if p[0] == step {
			sub = append(sub, p[1:])
		}
	}
	if len(sub) > 0 {
		walk(s, sub)
	} else {
		shallow(s)
	}
}

// shallow keeps a property's type and drops what is inside it.
func shallow(s map[string]any) {
	stripDescriptions(s)
	switch s["type"] {
	case "object":
		delete(s, "properties")
		delete(s, "additionalProperties")
		delete(s, "required")
		s["x-kubernetes-preserve-unknown-fields"] = true
	case "array":
		if items, ok := s["items"].(map[string]any); ok {
			shallow(items)
		}
	}
	delete(s, "x-kubernetes-validations")
}

func stripDescriptions(v any) {
	switch c := v.(type) {
	case map[string]any:
		if d, ok := c["description"].(string); ok && d != "" {
			delete(c, "description")
		}
		for k, e := range c {
			if k == "properties" {
				// A property may be called "description": step over the property names.
				if props, ok := e.(map[string]any); ok {
					for _, p := range props {
						stripDescriptions(p)
					}
				}
				continue
			}
			stripDescriptions(e)
		}
	case []any:
		for _, e := range c {
			stripDescriptions(e)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "trimcrd:", err)
	os.Exit(1)
}
