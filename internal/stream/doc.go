// Package stream reads Kubernetes manifests as `helm template`, `kustomize build` and
// `kubectl get -o yaml` print them: multi-document YAML or JSON, with comments, empty documents
// and `kind: List`. It keeps every object's position so that problems are reported with file and
// line, converts objects to JSON and decodes them strictly, and patches YAML in place so that a
// fixed manifest keeps its comments and layout.
//
// What an object means is what the libraries Kubernetes uses say: each document becomes the JSON
// sigs.k8s.io/yaml gives kubectl (YAML 1.1 booleans, the last of two equal keys), and
// sigs.k8s.io/json decodes it strictly, case-sensitively, as the API server does. Plain documents
// (no tags, anchors, aliases, merge keys, non-string keys or .inf/.nan) are converted from the
// tree already parsed for lines, so they are parsed once; the rest go through sigs.k8s.io/yaml
// itself. TestKubectlJSONAgreesWithSigsYAML and FuzzKubectlJSON hold both paths to the same bytes. The parts kept
// by hand are the ones those libraries do not offer, all on go.yaml.in/yaml/v3's node tree:
//   - positions: Split and Read cut a stream into documents and List items, each with its file
//     and line, and LineOf maps the field paths in the decoders' errors back to lines;
//   - per-document errors: a broken document is reported with its line and the ones after it
//     are still read, where a stream decoder stops at the first;
//   - guards and warnings: the converter behind ToJSON walks the tree to bound alias
//     expansion ("billion laughs") before kubectl's decoder expands it, and names both lines
//     of a key given twice;
//   - comment-preserving patches: ApplyPatch applies a JSON patch to the tree, so that a fixed
//     manifest keeps its comments, key order and anchors, which a round trip through JSON loses;
//   - a faster reader: PlainTree builds go-yaml's tree itself, without comments, for the block
//     style Plain accepts (what helm and kubectl write), and ReadChunkToJudge uses it where
//     nothing is patched; FuzzPlain holds both to go-yaml.
//
// The merge key (<<) is read in one place (merges), for both the conversion and the lookups.
//
// It parses untrusted bytes: it never panics on bad input, bounds document size, nesting and
// alias expansion, and reports a broken document without losing the ones after it.
//
// It may import the standard library, go.yaml.in/yaml/v3, sigs.k8s.io/yaml (kubectl's decoder,
// for the values), sigs.k8s.io/json and the JSON patch types.
package stream
