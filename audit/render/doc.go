// Package render turns an audit Report into what people read: kubectl-like tables, Markdown
// for a pull request or a ticket, and one self-contained HTML page with a placement map (a
// StatefulSet-by-node grid that shows co-located replicas, stranded volumes and the nodes whose
// failure costs a quorum at a glance). The JSON form is the report's own (audit.Report.WriteJSON,
// the schema in audit/SCHEMA.md); Write offers it beside the others so the CLI has one switch.
//
// It is apart from the audit package so that the analysis stays small and pure and the
// presentation can change without touching it: render only reads a finished Report, and decides
// nothing about the cluster. Its golden tests render the audit's JSON goldens
// (../testdata/<case>.json), so the chain analysis → JSON → page is checked at both steps;
// after a change to the analysis, regenerate the audit's goldens first
// (UPDATE_GOLDEN=1 go test ./audit/ && UPDATE_GOLDEN=1 go test ./audit/render/).
//
// It may import the standard library and the audit package (which brings the types of
// k8s.io/api and apimachinery with it). It never imports client-go, controller-runtime, the
// policy engine's internals or the webhook; and neither policy nor webhook may import it
// (webhook.TestImports and policy.TestImports guard that). cmd/stowage wires it to `stowage audit -o`.
package render
