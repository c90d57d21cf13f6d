package audit

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
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

// Limits of the placement map. Past them the map shows the StatefulSets with the worst findings
// and the nodes with the most trouble, and says so; the tables below still list everything.
const (
	maxMapRows    = 150
	maxMapColumns = 100
)

// Geometry of the placement map, in SVG user units (pixels).
const (
	mapCell    = 30
	mapGap     = 4
	mapPitch   = mapCell + mapGap
	mapPad     = 12
	mapCharW   = 8 // width of a label character at the label font size
	mapReadyW  = 56
	mapMinHead = 60
	// mapFootLabelW is the room the footer row's label needs.
	mapFootLabelW = 230
)

type htmlView struct {
	Title       string
	Generated   string
	SummaryLine string
	Threshold   string
	Cards       []htmlCard
	Map         mapView
	Rows        []htmlRow
	Sections    []htmlSection
	QuorumNodes []NodeImpact
	Problems    []Problem
	Legend      []htmlLegend
}

type htmlCard struct {
	Label, Value, Hint, Class string
}

type htmlLegend struct {
	Class, Label string
}

type htmlRow struct {
	*StatefulSetRow
	Ready, Pinned, PDBText, PDBClass, PolicyText, SevClass string
	NodeCount                                              int
}

type htmlSection struct {
	Title, Class string
	Findings     []Finding
}

type mapView struct {
	Empty         bool
	DotX          int
	Note          string
	Width, Height int
	GridX, GridY  int
	GridW, GridH  int
	Columns       []mapColumn
	Rows          []mapRow
	// ReadyX is where the ready column sits; HeadY is the baseline of the column headers.
	ReadyX, HeadY int
	// The footer row: how many StatefulSets lose quorum if each node fails.
	FootY, FootTextY, FootLineY int
	Foot                        []mapFoot
}

type mapFoot struct {
	X, Y, TextX, TextY, CY int
	Text, Class, Title     string
}

type mapColumn struct {
	X, CenterX, LabelY int
	Label, Class       string
	Title              string
	Bad                bool
	BadClass           string
}

type mapRow struct {
	Y, CenterY, DotY, LabelX int
	Label, SevClass          string
	Title                    string
	ReadyX                   int
	Ready, ReadyClass        string
	Stripe                   bool
	Cells                    []mapCellView
}

type mapCellView struct {
	X, Y, TextX, TextY int
	Class, Text, Title string
}

// WriteHTML writes one self-contained HTML page: summary cards, the node-by-StatefulSet
// placement map, the StatefulSets, the findings by severity and the node-loss impact.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{
		Title:       "Stowage audit",
		Generated:   r.GeneratedAt.Format("2006-01-02 15:04:05 UTC"),
		SummaryLine: r.summaryLine(),
		Threshold:   r.NotReadyThreshold,
		Map:         r.placementMap(),
		QuorumNodes: r.quorumNodes(),
		Problems:    r.Problems,
		Legend: []htmlLegend{
			{"c-ok", "healthy replica: pod ready next to its volume"},
			{"c-colo", "co-located: two or more replicas (pods or volumes) on the node"},
			{"c-stranded", "stranded: volume pinned to a missing, down or cordoned node"},
			{"c-away", "pod and volume on different nodes"},
			{"c-sick", "pod not ready, or on a node that is not ready"},
			{"c-vol", "volume only: its pod is not running here"},
			{"c-pending", "pod Pending, bound to no node"},
			{"col-bad", "node missing or down"},
			{"col-cordoned", "node cordoned or not ready"},
		},
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
		hr := htmlRow{StatefulSetRow: row, Ready: row.readyColumn(), Pinned: row.pinnedColumn(), PDBText: row.pdbColumn(),
			PolicyText: row.policyColumn(), SevClass: sevClass(row.WorstSeverity), NodeCount: len(row.Nodes)}
		switch row.PDB.Status {
		case PDBOK:
			hr.PDBClass = "good"
		case PDBNotNeeded:
			hr.PDBClass = "muted"
		default:
			hr.PDBClass = "warn"
		}
		v.Rows = append(v.Rows, hr)
	}
	for _, sec := range severitySections {
		if fs := r.bySeverity(sec.sev); len(fs) > 0 {
			v.Sections = append(v.Sections, htmlSection{Title: sec.title, Class: sevClass(sec.sev), Findings: fs})
		}
	}
	return htmlTemplate.Execute(w, v)
}

func card(label string, n int, hint, badClass string) htmlCard {
	c := htmlCard{Label: label, Value: strconv.Itoa(n), Hint: hint, Class: "good"}
	if n > 0 {
		c.Class = badClass
	}
	return c
}

func sevClass(s Severity) string {
	switch s {
	case SeverityError:
		return "sev-error"
	case SeverityWarning:
		return "sev-warning"
	case SeverityInfo:
		return "sev-info"
	}
	return "sev-none"
}

// cellAgg is what one StatefulSet has on one node.
type cellAgg struct {
	ordinals  []int32
	pods      []string
	claims    []string
	podCount  int
	volOrds   []int32
	stranded  bool
	away      bool
	unhealthy bool
}

func (c *cellAgg) addOrdinal(o int32) {
	if !slices.Contains(c.ordinals, o) {
		c.ordinals = append(c.ordinals, o)
	}
}

// cells groups a StatefulSet's replicas by node; "" holds the Pending pods bound to no node.
func cells(s *StatefulSetRow) map[string]*cellAgg {
	out := map[string]*cellAgg{}
	get := func(n string) *cellAgg {
		c := out[n]
		if c == nil {
			c = &cellAgg{}
			out[n] = c
		}
		return c
	}
	for i := range s.Replicas {
		rep := &s.Replicas[i]
		if rep.Node != "" {
			c := get(rep.Node)
			c.addOrdinal(rep.Ordinal)
			c.podCount++
			state := "ready"
			if !rep.Ready {
				state = "not ready"
			}
			c.pods = append(c.pods, rep.Pod+" ("+strings.ToLower(rep.Phase)+", "+state+")")
			if !rep.Healthy {
				c.unhealthy = true
			}
			if rep.AwayFromVolume {
				c.away = true
			}
		} else if rep.Unscheduled {
			c := get("")
			c.addOrdinal(rep.Ordinal)
			c.podCount++
			c.pods = append(c.pods, rep.Pod+" (pending)")
			c.unhealthy = true
		}
		for _, vol := range rep.Volumes {
			if vol.Node == "" {
				continue
			}
			c := get(vol.Node)
			c.addOrdinal(rep.Ordinal)
			c.claims = append(c.claims, vol.Claim)
			if !slices.Contains(c.volOrds, rep.Ordinal) {
				c.volOrds = append(c.volOrds, rep.Ordinal)
			}
			if vol.NodeState.Stranded() {
				c.stranded = true
			}
			if rep.Node != "" && rep.Node != vol.Node {
				c.away = true
			}
		}
	}
	return out
}

// class picks the colour of a cell, most serious first.
func (c *cellAgg) class(pendingColumn bool) string {
	switch {
	case pendingColumn:
		return "c-pending"
	case c.podCount >= 2 || len(c.volOrds) >= 2:
		return "c-colo"
	case c.stranded:
		return "c-stranded"
	case c.away:
		return "c-away"
	case c.podCount == 0:
		return "c-vol"
	case c.unhealthy:
		return "c-sick"
	}
	return "c-ok"
}

func (c *cellAgg) text() string {
	slices.Sort(c.ordinals)
	parts := make([]string, len(c.ordinals))
	for i, o := range c.ordinals {
		parts[i] = strconv.Itoa(int(o))
	}
	if t := strings.Join(parts, ","); len(t) <= 3 {
		return t
	}
	return "×" + strconv.Itoa(len(c.ordinals))
}

var cellWords = map[string]string{
	"c-ok": "healthy", "c-colo": "co-located replicas", "c-stranded": "stranded volume", "c-away": "pod and volume on different nodes",
	"c-sick": "not healthy", "c-vol": "volume only", "c-pending": "pending, bound to no node",
}

func (c *cellAgg) title(row, node, class string) string {
	var b strings.Builder
	if node == "" {
		fmt.Fprintf(&b, "%s: pods bound to no node", row)
	} else {
		fmt.Fprintf(&b, "%s on %s", row, node)
	}
	b.WriteString(" — " + cellWords[class])
	if len(c.pods) > 0 {
		b.WriteString("\npods: " + strings.Join(c.pods, ", "))
	}
	if len(c.claims) > 0 {
		b.WriteString("\nvolumes: " + strings.Join(c.claims, ", "))
	}
	return b.String()
}

var severityOrder = map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2, "": 3}

// placementMap lays out the node-by-StatefulSet grid.
func (r *Report) placementMap() mapView {
	if len(r.StatefulSets) == 0 {
		return mapView{Empty: true}
	}
	// Rows: every StatefulSet, or the worst ones when there are too many; shown by name.
	rows := make([]*StatefulSetRow, len(r.StatefulSets))
	for i := range r.StatefulSets {
		rows[i] = &r.StatefulSets[i]
	}
	var notes []string
	if len(rows) > maxMapRows {
		slices.SortStableFunc(rows, func(a, b *StatefulSetRow) int {
			return cmp.Compare(severityOrder[a.WorstSeverity], severityOrder[b.WorstSeverity])
		})
		rows = rows[:maxMapRows]
		slices.SortFunc(rows, func(a, b *StatefulSetRow) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		notes = append(notes, fmt.Sprintf("showing the %d StatefulSets with the most serious findings of %d", maxMapRows, len(r.StatefulSets)))
	}
	rowCells := make([]map[string]*cellAgg, len(rows))
	type colInfo struct {
		name    string
		trouble int
		use     int
	}
	cols := map[string]*colInfo{}
	pending := false
	for i, s := range rows {
		rowCells[i] = cells(s)
		for n, c := range rowCells[i] {
			if n == "" {
				pending = true
				continue
			}
			ci := cols[n]
			if ci == nil {
				ci = &colInfo{name: n}
				cols[n] = ci
			}
			ci.use++
			if cl := c.class(false); cl == "c-colo" || cl == "c-stranded" || cl == "c-away" {
				ci.trouble++
			}
		}
	}
	states := make(map[string]NodeState, len(r.Nodes))
	for _, n := range r.Nodes {
		states[n.Node] = n.State
	}
	order := make([]*colInfo, 0, len(cols))
	for _, c := range cols {
		if states[c.name] != NodeReady {
			c.trouble += 1000 // a node in trouble always gets a column
		}
		order = append(order, c)
	}
	hidden := map[string]bool{}
	if len(order) > maxMapColumns {
		slices.SortFunc(order, func(a, b *colInfo) int {
			return cmp.Or(cmp.Compare(b.trouble, a.trouble), cmp.Compare(b.use, a.use), cmp.Compare(a.name, b.name))
		})
		for _, c := range order[maxMapColumns:] {
			hidden[c.name] = true
		}
		notes = append(notes, fmt.Sprintf("showing the %d nodes with the most trouble of %d; the last column sums up the others", maxMapColumns, len(order)))
		order = order[:maxMapColumns]
	}
	slices.SortFunc(order, func(a, b *colInfo) int { return cmp.Compare(a.name, b.name) })

	// Geometry.
	labelChars := 0
	for _, s := range rows {
		labelChars = max(labelChars, len(s.Namespace)+1+len(s.Name))
	}
	labelW := max(min(labelChars, 48)*mapCharW+24, mapFootLabelW)
	headChars := 0
	if pending {
		headChars = len("no node (Pending)")
	}
	for _, c := range order {
		extra := 0
		if st := states[c.name]; st != NodeReady {
			extra = len(" · not ready")
		}
		headChars = max(headChars, len(c.name)+extra)
	}
	headH := max(mapMinHead, min(headChars, 40)*mapCharW*72/100+24)
	nCols := len(order)
	if len(hidden) > 0 {
		nCols++
	}
	if pending {
		nCols++
	}
	m := mapView{
		Note:  strings.Join(notes, "; "),
		GridX: mapPad + labelW, GridY: mapPad + headH, DotX: mapPad + 6,
	}
	m.GridW = max(nCols, 1)*mapPitch + mapGap
	m.GridH = len(rows)*mapPitch + mapGap
	m.Width = m.GridX + m.GridW + mapReadyW + headH*7/10 + mapPad
	m.FootLineY = m.GridY + m.GridH + 8
	m.FootY = m.FootLineY + 8
	m.FootTextY = m.FootY + mapCell/2 + 5
	m.Height = m.FootY + mapCell + mapPad
	m.ReadyX = m.GridX + m.GridW + 10
	m.HeadY = m.GridY - 8

	colIndex := map[string]int{}
	addCol := func(label, class, title string, bad string) {
		x := m.GridX + mapGap + len(m.Columns)*mapPitch
		m.Columns = append(m.Columns, mapColumn{X: x - mapGap/2, CenterX: x + mapCell/2, LabelY: m.GridY - 8,
			Label: label, Class: class, Title: title, Bad: bad != "", BadClass: bad})
	}
	for _, c := range order {
		st := states[c.name]
		label, class, bad := c.name, "node", ""
		switch st {
		case NodeMissing:
			label, class, bad = c.name+" · missing", "node node-bad", "col-bad"
		case NodeDown:
			label, class, bad = c.name+" · down", "node node-bad", "col-bad"
		case NodeNotReady:
			label, class, bad = c.name+" · not ready", "node node-warn", "col-cordoned"
		case NodeCordoned:
			label, class, bad = c.name+" · cordoned", "node node-warn", "col-cordoned"
		}
		colIndex[c.name] = len(m.Columns)
		addCol(label, class, fmt.Sprintf("node %s: %s", c.name, strings.ToLower(string(st))), bad)
	}
	otherCol, pendingCol := -1, -1
	if len(hidden) > 0 {
		otherCol = len(m.Columns)
		addCol(fmt.Sprintf("+%d other nodes", len(hidden)), "node node-muted", "replicas on the nodes not shown", "")
	}
	if pending {
		pendingCol = len(m.Columns)
		addCol("no node (Pending)", "node node-muted", "pods Pending and bound to no node", "")
	}

	impacts := make(map[string]*NodeImpact, len(r.Nodes))
	for i := range r.Nodes {
		impacts[r.Nodes[i].Node] = &r.Nodes[i]
	}
	for _, c := range order {
		x := m.GridX + mapGap + colIndex[c.name]*mapPitch
		f := mapFoot{X: x, Y: m.FootY, TextX: x + mapCell/2, TextY: m.FootTextY, CY: m.FootY + mapCell/2, Text: "0", Class: "foot-ok",
			Title: fmt.Sprintf("if %s fails, no StatefulSet loses its quorum", c.name)}
		if imp := impacts[c.name]; imp != nil && len(imp.LoseQuorum) > 0 {
			names := refs(imp.LoseQuorum[:min(len(imp.LoseQuorum), 20)])
			if len(imp.LoseQuorum) > 20 {
				names += ", …"
			}
			f.Text, f.Class = strconv.Itoa(len(imp.LoseQuorum)), "foot-bad"
			f.Title = fmt.Sprintf("if %s fails, %s lose quorum: %s", c.name, plural(len(imp.LoseQuorum), "StatefulSet would", "StatefulSets would"), names)
		}
		m.Foot = append(m.Foot, f)
	}

	for i, s := range rows {
		y := m.GridY + mapGap + i*mapPitch
		label := s.Namespace + "/" + s.Name
		if len(label) > 48 {
			label = label[:47] + "…"
		}
		mr := mapRow{Y: y - mapGap/2, CenterY: y + mapCell/2 + 4, DotY: y + mapCell/2, LabelX: mapPad + 16, Label: label,
			SevClass: sevClass(s.WorstSeverity), Stripe: i%2 == 1,
			Title:  fmt.Sprintf("%s/%s: %s ready, %s", s.Namespace, s.Name, s.readyColumn(), orNone(string(s.WorstSeverity))),
			ReadyX: m.ReadyX, Ready: s.readyColumn(), ReadyClass: "ready-ok"}
		if s.HealthyReplicas < s.Quorum {
			mr.ReadyClass = "ready-bad"
		} else if s.ReadyReplicas < s.DesiredReplicas {
			mr.ReadyClass = "ready-warn"
		}
		other := &cellAgg{}
		otherClass, otherSeen := "", false
		names := make([]string, 0, len(rowCells[i]))
		for n := range rowCells[i] {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			c := rowCells[i][n]
			col := -1
			switch {
			case n == "":
				col = pendingCol
			case hidden[n]:
				otherSeen = true
				for _, o := range c.ordinals {
					other.addOrdinal(o)
				}
				other.pods = append(other.pods, c.pods...)
				other.claims = append(other.claims, c.claims...)
				otherClass = worstClass(otherClass, c.class(false))
				continue
			default:
				col = colIndex[n]
			}
			cl := c.class(n == "")
			mr.Cells = append(mr.Cells, m.cell(col, y, cl, c.text(), c.title(label, n, cl)))
		}
		if otherSeen {
			mr.Cells = append(mr.Cells, m.cell(otherCol, y, otherClass, other.text(), other.title(label, "other nodes", otherClass)))
		}
		m.Rows = append(m.Rows, mr)
	}
	return m
}

func (m *mapView) cell(col, y int, class, text, title string) mapCellView {
	x := m.GridX + mapGap + col*mapPitch
	return mapCellView{X: x, Y: y, TextX: x + mapCell/2, TextY: y + mapCell/2 + 4, Class: class, Text: text, Title: title}
}

var classOrder = []string{"c-colo", "c-stranded", "c-away", "c-sick", "c-vol", "c-ok"}

func worstClass(a, b string) string {
	if a == "" {
		return b
	}
	if slices.Index(classOrder, b) < slices.Index(classOrder, a) {
		return b
	}
	return a
}

func orNone(s string) string {
	if s == "" {
		return "no findings"
	}
	return "worst finding: " + s
}
