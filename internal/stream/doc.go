// Package stream reads Kubernetes manifests as `helm template`, `kustomize build` and
// `kubectl get -o yaml` print them: multi-document YAML or JSON, with comments, empty documents
// and `kind: List`. It keeps every object's position so that problems are reported with file and
// line, converts objects to JSON and decodes them strictly, and patches YAML in place so that a
// fixed manifest keeps its comments and layout.
//
// It parses untrusted bytes: it never panics on bad input, bounds document size, nesting and
// alias expansion, and reports a broken document without losing the ones after it.
//
// It may import the standard library, go.yaml.in/yaml/v3, sigs.k8s.io/json and the JSON patch
// types.
package stream
