package render

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stowage-dev/stowage/audit"
)

// Output formats for Write.
const (
	FormatTable    = "table"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
)

// Formats returns the formats Write accepts, default first.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatMarkdown, FormatHTML} }

// Write renders the report in a format: table (kubectl-like columns, one row per StatefulSet,
// then the findings by severity), json (the schema in audit/SCHEMA.md), markdown, or html (one
// self-contained page with a placement map). "md" is accepted for markdown and "" for table.
func Write(w io.Writer, r *audit.Report, format string) error {
	switch strings.ToLower(format) {
	case FormatTable, "":
		return Table(w, r)
	case FormatJSON:
		return r.WriteJSON(w)
	case FormatMarkdown, "md":
		return Markdown(w, r)
	case FormatHTML:
		return HTML(w, r)
	}
	return fmt.Errorf("unknown output format %q: want one of %s", format, strings.Join(Formats(), ", "))
}

// severitySections are the finding groups, most serious first.
var severitySections = []struct {
	sev   audit.Severity
	title string
}{
	{audit.SeverityError, "Errors"},
	{audit.SeverityWarning, "Warnings"},
	{audit.SeverityInfo, "Info"},
}

// findingSection is the findings of one severity, in the table, Markdown and HTML alike.
type findingSection struct {
	Title, Class string
	Findings     []audit.Finding
}

// sections groups the findings by severity, most serious first, leaving out the empty groups.
func sections(r *audit.Report) []findingSection {
	var out []findingSection
	for _, sec := range severitySections {
		fs := slices.DeleteFunc(slices.Clone(r.Findings), func(f audit.Finding) bool { return f.Severity != sec.sev })
		if len(fs) > 0 {
			out = append(out, findingSection{Title: sec.title, Class: sevClass(sec.sev), Findings: fs})
		}
	}
	return out
}

// quorumNodes returns the nodes whose failure costs some StatefulSet its quorum.
func quorumNodes(r *audit.Report) []audit.NodeImpact {
	return slices.DeleteFunc(slices.Clone(r.Nodes), func(n audit.NodeImpact) bool { return len(n.LoseQuorum) == 0 })
}

func readyColumn(s *audit.StatefulSetRow) string {
	return strconv.Itoa(int(s.ReadyReplicas)) + "/" + strconv.Itoa(int(s.DesiredReplicas))
}

func pinnedColumn(s *audit.StatefulSetRow) string {
	if s.VolumeReplicas == 0 {
		return "-"
	}
	return strconv.Itoa(s.PinnedReplicas) + "/" + strconv.Itoa(s.VolumeReplicas)
}

func pdbColumn(s *audit.StatefulSetRow) string {
	if len(s.PDB.Names) > 1 {
		return string(s.PDB.Status) + "(" + strconv.Itoa(len(s.PDB.Names)) + ")"
	}
	return string(s.PDB.Status)
}

func policyColumn(s *audit.StatefulSetRow) string {
	switch {
	case s.Policy == "":
		return "<none>"
	case s.Exempt:
		return s.Policy + " (exempt)"
	}
	return s.Policy
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// where is a finding's node, else its field.
func where(f *audit.Finding) string {
	if f.Node != "" {
		return f.Node
	}
	return f.Field
}

func refs(rs []audit.Ref) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func summaryLine(r *audit.Report) string {
	c := r.Summary.Findings
	what := plural(r.Summary.StatefulSets, "StatefulSet", "StatefulSets")
	if n := r.Summary.CustomResources; n > 0 {
		what += ", " + plural(n, "operator resource", "operator resources")
	}
	if n := r.Summary.PodSets; n > 0 {
		what += ", " + plural(n, "pod set", "pod sets")
	}
	s := fmt.Sprintf("%s on %s: %s, %s, %d info", what, plural(r.Summary.Nodes, "node", "nodes"),
		plural(c.Error, "error", "errors"), plural(c.Warning, "warning", "warnings"), c.Info)
	if r.Summary.Problems > 0 {
		s += ", " + plural(r.Summary.Problems, "object not analysed", "objects not analysed")
	}
	return s
}

// Table writes kubectl-like columns, one row per StatefulSet, then the findings by severity,
// the nodes whose failure costs a quorum, and the objects that could not be analysed.
func Table(w io.Writer, r *audit.Report) error {
	if err := columns(w, "NAMESPACE\tNAME\tREADY\tNODES\tCOLOCATED\tPINNED\tSTRANDED\tPDB\tPOLICY\tVIOLATIONS\tSEVERITY", r.StatefulSets,
		func(s *audit.StatefulSetRow) string {
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%d\t%s", s.Namespace, s.Name, readyColumn(s), len(s.Nodes),
				s.ColocatedReplicas, pinnedColumn(s), s.StrandedReplicas, pdbColumn(s), policyColumn(s), s.Violations,
				orDash(string(s.WorstSeverity)))
		}); err != nil {
		return err
	}
	for _, sec := range sections(r) {
		fmt.Fprintf(w, "\n%s (%d)\n", strings.ToUpper(sec.Title), len(sec.Findings))
		if err := columns(w, "OBJECT\tFINDING\tNODE/FIELD\tMESSAGE", sec.Findings, func(f *audit.Finding) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s", f.Subject(), f.ID, orDash(where(f)), oneLine(f.Message))
		}); err != nil {
			return err
		}
	}
	if qn := quorumNodes(r); len(qn) > 0 {
		fmt.Fprintf(w, "\nNODES WHOSE FAILURE COSTS A QUORUM (%d)\n", len(qn))
		if err := columns(w, "NODE\tSTATE\tLOSE A REPLICA\tLOSE QUORUM", qn, func(n *audit.NodeImpact) string {
			return fmt.Sprintf("%s\t%s\t%d\t%s", n.Node, n.State, len(n.LoseReplica), refs(n.LoseQuorum))
		}); err != nil {
			return err
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\nNOT ANALYSED (%d)\n", len(r.Problems))
		if err := columns(w, "KIND\tOBJECT\tPROBLEM", r.Problems, func(p *audit.Problem) string {
			return fmt.Sprintf("%s\t%s\t%s", p.Kind, objectName(p.Namespace, p.Name), oneLine(p.Message))
		}); err != nil {
			return err
		}
	}
	if line := skippedLine(r); line != "" {
		fmt.Fprintf(w, "\n%s\n", line)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", summaryLine(r))
	return err
}

// columns writes kubectl-like columns: the tab-separated header, then a line per item.
func columns[T any](w io.Writer, header string, items []T, line func(*T) string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, header)
	for i := range items {
		fmt.Fprintln(tw, line(&items[i]))
	}
	return tw.Flush()
}

// skippedLine names the kinds that could not be listed, or is empty.
func skippedLine(r *audit.Report) string {
	var notInstalled, forbidden []string
	for _, s := range r.Skipped {
		if s.Reason == audit.SkippedForbidden {
			forbidden = append(forbidden, s.Kind)
		} else {
			notInstalled = append(notInstalled, s.Kind)
		}
	}
	var parts []string
	if len(notInstalled) > 0 {
		parts = append(parts, strings.Join(notInstalled, ", ")+" (not installed)")
	}
	if len(forbidden) > 0 {
		parts = append(parts, strings.Join(forbidden, ", ")+" (listing forbidden)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "Not listed: " + strings.Join(parts, "; ") + "."
}

func objectName(ns, name string) string {
	if ns == "" {
		return orDash(name)
	}
	return ns + "/" + name
}

// oneLine keeps a cell on one line, and keeps tabs from breaking the columns.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
}

// Markdown writes the report as GitHub-flavoured Markdown: a summary, the StatefulSets, the
// findings by severity and the nodes whose failure costs a quorum.
func Markdown(w io.Writer, r *audit.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Stowage audit\n\nGenerated %s. %s.\n\n", r.GeneratedAt.Format("2006-01-02 15:04:05 UTC"), summaryLine(r))
	fmt.Fprintf(&b, "| Co-located replicas | Stranded replicas | StatefulSets without a PDB | StatefulSets that lose quorum on one node failure |\n")
	fmt.Fprintf(&b, "|---:|---:|---:|---:|\n| %d | %d | %d | %d |\n\n", r.Summary.ColocatedReplicas, r.Summary.StrandedReplicas,
		r.Summary.WithoutPDB, r.Summary.LoseQuorumOnNodeFailure)

	b.WriteString("## StatefulSets\n\n")
	if len(r.StatefulSets) == 0 {
		b.WriteString("No StatefulSets.\n\n")
	} else {
		b.WriteString("| Namespace | Name | Ready | Nodes | Co-located | Pinned | Stranded | PDB | Policy | Violations | Severity |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---|---|---:|---|\n")
		for i := range r.StatefulSets {
			s := &r.StatefulSets[i]
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %d | %s | %s | %d | %s |\n", mdCell(s.Namespace), mdCell(s.Name),
				readyColumn(s), len(s.Nodes), s.ColocatedReplicas, pinnedColumn(s), s.StrandedReplicas, pdbColumn(s),
				mdCell(policyColumn(s)), s.Violations, orDash(string(s.WorstSeverity)))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Findings\n\n")
	if len(r.Findings) == 0 {
		b.WriteString("No findings.\n\n")
	}
	for _, sec := range sections(r) {
		fmt.Fprintf(&b, "### %s (%d)\n\n| Object | Finding | Node / field | Message |\n|---|---|---|---|\n", sec.Title, len(sec.Findings))
		for i := range sec.Findings {
			f := &sec.Findings[i]
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", mdCell(f.Subject()), f.ID, mdCode(where(f)), mdCell(f.Message))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Node-loss impact\n\n")
	if qn := quorumNodes(r); len(qn) == 0 {
		b.WriteString("No single node failure costs a StatefulSet its quorum.\n\n")
	} else {
		b.WriteString("Nodes whose failure now leaves a StatefulSet with fewer healthy replicas than its quorum:\n\n")
		b.WriteString("| Node | State | Lose a replica | Lose quorum |\n|---|---|---:|---|\n")
		for _, n := range qn {
			fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", mdCell(n.Node), n.State, len(n.LoseReplica), mdCell(refs(n.LoseQuorum)))
		}
		b.WriteString("\n")
	}
	if len(r.Problems) > 0 {
		b.WriteString("## Not analysed\n\n| Kind | Object | Problem |\n|---|---|---|\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", p.Kind, mdCell(objectName(p.Namespace, p.Name)), mdCell(p.Message))
		}
		b.WriteString("\n")
	}
	if line := skippedLine(r); line != "" {
		b.WriteString(mdCell(line) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = oneLine(s)
	return strings.NewReplacer("\\", "\\\\", "|", "\\|", "<", "&lt;", ">", "&gt;", "*", "\\*", "_", "\\_", "`", "\\`").Replace(s)
}

// mdCode renders a path or name as inline code, or a dash.
func mdCode(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + strings.NewReplacer("`", "'", "|", "\\|").Replace(oneLine(s)) + "`"
}
