package render

import (
	"cmp"
	_ "embed"
	"html/template"
	"io"
	"strconv"

	"github.com/stowage-dev/stowage/audit"
)

// The HTML page is one self-contained file: inline CSS and an inline SVG placement map, no
// scripts, no fonts, images or styles from elsewhere. html/template escapes every value.

//go:embed report.html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"sev":   sevClass,
	"pitch": func() int { return mapPitch },
	"size":  func() int { return mapCell },
}).Parse(htmlTemplateText))

type htmlView struct {
	Title       string
	Generated   string
	SummaryLine string
	Threshold   string
	Cards       []htmlCard
	Map         mapView
	Rows        []htmlRow
	Sections    []findingSection
	QuorumNodes []audit.NodeImpact
	Problems    []audit.Problem
}

type htmlCard struct {
	Label, Value, Hint, Class string
}

type htmlRow struct {
	*audit.StatefulSetRow
	Ready, Pinned, PDBText, PDBClass, PolicyText, SevClass string
	NodeCount                                              int
}

// HTML writes one self-contained HTML page: summary cards, the node-by-StatefulSet placement
// map, the StatefulSets, the findings by severity and the node-loss impact.
func HTML(w io.Writer, r *audit.Report) error {
	v := htmlView{
		Title:       "Stowage audit",
		Generated:   r.GeneratedAt.Format("2006-01-02 15:04:05 UTC"),
		SummaryLine: summaryLine(r),
		Threshold:   r.NotReadyThreshold,
		Map:         placementMap(r),
		Sections:    sections(r),
		QuorumNodes: quorumNodes(r),
		Problems:    r.Problems,
	}
	s := &r.Summary
	v.Cards = []htmlCard{
		card("Errors", s.Findings.Error, "findings of error severity", "bad"),
		card("Warnings", s.Findings.Warning, "findings of warning severity", "warn"),
		card("Co-located replicas", s.ColocatedReplicas, "replicas sharing a node with another replica", "bad"),
		card("Stranded replicas", s.StrandedReplicas, "volumes on missing, down or cordoned nodes", "bad"),
		card("Without a PDB", s.WithoutPDB, "replicated StatefulSets with no PodDisruptionBudget", "warn"),
		card("Lose quorum on one node", s.LoseQuorumOnNodeFailure, "StatefulSets below quorum if one node fails", "bad"),
	}
	for i := range r.StatefulSets {
		row := &r.StatefulSets[i]
		hr := htmlRow{StatefulSetRow: row, Ready: readyColumn(row), Pinned: pinnedColumn(row), PDBText: pdbColumn(row),
			PolicyText: policyColumn(row), SevClass: sevClass(row.WorstSeverity), NodeCount: len(row.Nodes),
			PDBClass: cmp.Or(pdbClasses[row.PDB.Status], "warn")}
		v.Rows = append(v.Rows, hr)
	}
	return htmlTemplate.Execute(w, v)
}

// pdbClasses colour the PDB column; any other status is a warning.
var pdbClasses = map[audit.PDBStatus]string{audit.PDBOK: "good", audit.PDBNotNeeded: "muted"}

func card(label string, n int, hint, badClass string) htmlCard {
	c := htmlCard{Label: label, Value: strconv.Itoa(n), Hint: hint, Class: "good"}
	if n > 0 {
		c.Class = badClass
	}
	return c
}

// sevClass is sev-error, sev-warning or sev-info, and sev-none for no finding (Rank 3).
func sevClass(s audit.Severity) string {
	if s.Rank() < 3 {
		return "sev-" + string(s)
	}
	return "sev-none"
}
