package render

// The placement map: a grid with a row per StatefulSet and a column per node, each cell
// coloured by what the StatefulSet has on that node, and a footer row counting the StatefulSets
// that lose quorum if the node fails. It is drawn as SVG by report.html.tmpl from a mapView,
// laid out here in user units (pixels).

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stowage-dev/stowage/audit"
)

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
	// mapLabelChars is the longest row label shown; longer ones are cut.
	mapLabelChars = 48
)

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
func cells(s *audit.StatefulSetRow) map[string]*cellAgg {
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
			c.unhealthy = c.unhealthy || !rep.Healthy
			c.away = c.away || rep.AwayFromVolume
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
			c.stranded = c.stranded || vol.NodeState.Stranded()
			c.away = c.away || rep.Node != "" && rep.Node != vol.Node
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

// troubled reports whether a cell shows a placement problem on its node.
func (c *cellAgg) troubled() bool {
	cl := c.class(false)
	return cl == "c-colo" || cl == "c-stranded" || cl == "c-away"
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

// merge adds another cell's replicas to c, for the column that sums up the nodes not shown.
func (c *cellAgg) merge(o *cellAgg) {
	for _, ord := range o.ordinals {
		c.addOrdinal(ord)
	}
	c.pods = append(c.pods, o.pods...)
	c.claims = append(c.claims, o.claims...)
}

// nodeColumn is a node that some shown StatefulSet has a pod or volume on.
type nodeColumn struct {
	name    string
	state   audit.NodeState
	trouble int // cells showing a problem; a node not Ready always ranks first
	use     int // cells
}

// mapPlan is what the map shows, before it is laid out.
type mapPlan struct {
	rows     []*audit.StatefulSetRow
	cells    []map[string]*cellAgg // by row, then node ("" for pods bound to no node)
	columns  []*nodeColumn         // the nodes shown, by name
	hidden   map[string]bool       // the nodes summed up in one column
	pending  bool                  // some pod is bound to no node: a column for them
	impacts  map[string]*audit.NodeImpact
	notes    []string
	colIndex map[string]int
	// otherCol and pendingCol are the indices of the summing and Pending columns, or -1.
	otherCol, pendingCol int
}

// placementMap lays out the node-by-StatefulSet grid.
func placementMap(r *audit.Report) mapView {
	if len(r.StatefulSets) == 0 {
		return mapView{Empty: true}
	}
	p := &mapPlan{hidden: map[string]bool{}, colIndex: map[string]int{}, otherCol: -1, pendingCol: -1}
	p.pickRows(r)
	p.pickColumns(r)
	m := p.layout()
	p.addColumns(&m)
	p.addFooter(&m, r)
	for i := range p.rows {
		m.Rows = append(m.Rows, p.row(&m, i))
	}
	return m
}

// pickRows takes every StatefulSet, or the ones with the worst findings when there are too many,
// in report order.
func (p *mapPlan) pickRows(r *audit.Report) {
	p.rows = make([]*audit.StatefulSetRow, len(r.StatefulSets))
	for i := range r.StatefulSets {
		p.rows[i] = &r.StatefulSets[i]
	}
	if len(p.rows) > maxMapRows {
		slices.SortStableFunc(p.rows, func(a, b *audit.StatefulSetRow) int {
			return cmp.Compare(a.WorstSeverity.Rank(), b.WorstSeverity.Rank())
		})
		p.rows = p.rows[:maxMapRows]
		slices.SortFunc(p.rows, func(a, b *audit.StatefulSetRow) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		p.notes = append(p.notes, fmt.Sprintf("showing the %d StatefulSets with the most serious findings of %d", maxMapRows, len(r.StatefulSets)))
	}
	p.cells = make([]map[string]*cellAgg, len(p.rows))
	for i, s := range p.rows {
		p.cells[i] = cells(s)
	}
}

// pickColumns takes every node the rows use, or the ones with the most trouble when there are
// too many (the others are summed up in one column), by name.
func (p *mapPlan) pickColumns(r *audit.Report) {
	states := make(map[string]audit.NodeState, len(r.Nodes))
	p.impacts = make(map[string]*audit.NodeImpact, len(r.Nodes))
	for i := range r.Nodes {
		states[r.Nodes[i].Node] = r.Nodes[i].State
		p.impacts[r.Nodes[i].Node] = &r.Nodes[i]
	}
	byName := map[string]*nodeColumn{}
	for _, rc := range p.cells {
		for n, c := range rc {
			if n == "" {
				p.pending = true
				continue
			}
			col := byName[n]
			if col == nil {
				col = &nodeColumn{name: n, state: states[n]}
				byName[n] = col
				if col.state != audit.NodeReady {
					col.trouble += 1000 // a node in trouble always gets a column
				}
				p.columns = append(p.columns, col)
			}
			col.use++
			if c.troubled() {
				col.trouble++
			}
		}
	}
	if len(p.columns) > maxMapColumns {
		slices.SortFunc(p.columns, func(a, b *nodeColumn) int {
			return cmp.Or(cmp.Compare(b.trouble, a.trouble), cmp.Compare(b.use, a.use), cmp.Compare(a.name, b.name))
		})
		for _, c := range p.columns[maxMapColumns:] {
			p.hidden[c.name] = true
		}
		p.notes = append(p.notes, fmt.Sprintf("showing the %d nodes with the most trouble of %d; the last column sums up the others", maxMapColumns, len(p.columns)))
		p.columns = p.columns[:maxMapColumns]
	}
	slices.SortFunc(p.columns, func(a, b *nodeColumn) int { return cmp.Compare(a.name, b.name) })
}

// layout sizes the picture: the row labels on the left, the column headers on top, the grid,
// the ready column on the right and the footer row below.
func (p *mapPlan) layout() mapView {
	labelChars := 0
	for _, s := range p.rows {
		labelChars = max(labelChars, len(s.Namespace)+1+len(s.Name))
	}
	labelW := max(min(labelChars, mapLabelChars)*mapCharW+24, mapFootLabelW)
	headChars := 0
	if p.pending {
		headChars = len("no node (Pending)")
	}
	for _, c := range p.columns {
		extra := 0
		if c.state != audit.NodeReady {
			extra = len(" · not ready")
		}
		headChars = max(headChars, len(c.name)+extra)
	}
	headH := max(mapMinHead, min(headChars, 40)*mapCharW*72/100+24)
	nCols := len(p.columns)
	if len(p.hidden) > 0 {
		nCols++
	}
	if p.pending {
		nCols++
	}
	m := mapView{
		Note:  strings.Join(p.notes, "; "),
		GridX: mapPad + labelW, GridY: mapPad + headH, DotX: mapPad + 6,
	}
	m.GridW = max(nCols, 1)*mapPitch + mapGap
	m.GridH = len(p.rows)*mapPitch + mapGap
	m.Width = m.GridX + m.GridW + mapReadyW + headH*7/10 + mapPad
	m.FootLineY = m.GridY + m.GridH + 8
	m.FootY = m.FootLineY + 8
	m.FootTextY = m.FootY + mapCell/2 + 5
	m.Height = m.FootY + mapCell + mapPad
	m.ReadyX = m.GridX + m.GridW + 10
	m.HeadY = m.GridY - 8
	return m
}

// nodeHeaders gives each node state its column label suffix, label class and bad-column class.
var nodeHeaders = map[audit.NodeState]struct{ suffix, class, bad string }{
	audit.NodeMissing:  {" · missing", "node node-bad", "col-bad"},
	audit.NodeDown:     {" · down", "node node-bad", "col-bad"},
	audit.NodeNotReady: {" · not ready", "node node-warn", "col-cordoned"},
	audit.NodeCordoned: {" · cordoned", "node node-warn", "col-cordoned"},
}

// addColumns adds the column headers: the nodes, then the one summing up the nodes not shown,
// then the one for pods bound to no node.
func (p *mapPlan) addColumns(m *mapView) {
	add := func(label, class, title, bad string) int {
		x := m.GridX + mapGap + len(m.Columns)*mapPitch
		m.Columns = append(m.Columns, mapColumn{X: x - mapGap/2, CenterX: x + mapCell/2, LabelY: m.GridY - 8,
			Label: label, Class: class, Title: title, Bad: bad != "", BadClass: bad})
		return len(m.Columns) - 1
	}
	for _, c := range p.columns {
		h, ok := nodeHeaders[c.state]
		if !ok {
			h.class = "node"
		}
		p.colIndex[c.name] = add(c.name+h.suffix, h.class, fmt.Sprintf("node %s: %s", c.name, strings.ToLower(string(c.state))), h.bad)
	}
	if len(p.hidden) > 0 {
		p.otherCol = add(fmt.Sprintf("+%d other nodes", len(p.hidden)), "node node-muted", "replicas on the nodes not shown", "")
	}
	if p.pending {
		p.pendingCol = add("no node (Pending)", "node node-muted", "pods Pending and bound to no node", "")
	}
}

// addFooter adds, under each node's column, how many StatefulSets lose quorum if it fails.
func (p *mapPlan) addFooter(m *mapView, r *audit.Report) {
	for _, c := range p.columns {
		x := m.GridX + mapGap + p.colIndex[c.name]*mapPitch
		f := mapFoot{X: x, Y: m.FootY, TextX: x + mapCell/2, TextY: m.FootTextY, CY: m.FootY + mapCell/2, Text: "0", Class: "foot-ok",
			Title: fmt.Sprintf("if %s fails, no StatefulSet loses its quorum", c.name)}
		if imp := p.impacts[c.name]; imp != nil && len(imp.LoseQuorum) > 0 {
			names := refs(imp.LoseQuorum[:min(len(imp.LoseQuorum), 20)])
			if len(imp.LoseQuorum) > 20 {
				names += ", …"
			}
			f.Text, f.Class = strconv.Itoa(len(imp.LoseQuorum)), "foot-bad"
			f.Title = fmt.Sprintf("if %s fails, %s lose quorum: %s", c.name, plural(len(imp.LoseQuorum), "StatefulSet would", "StatefulSets would"), names)
		}
		m.Foot = append(m.Foot, f)
	}
}

// row lays out row i: its label, its ready count and a cell per node it uses.
func (p *mapPlan) row(m *mapView, i int) mapRow {
	s := p.rows[i]
	y := m.GridY + mapGap + i*mapPitch
	label := s.Namespace + "/" + s.Name
	if len(label) > mapLabelChars {
		label = label[:mapLabelChars-1] + "…"
	}
	mr := mapRow{Y: y - mapGap/2, CenterY: y + mapCell/2 + 4, DotY: y + mapCell/2, LabelX: mapPad + 16, Label: label,
		SevClass: sevClass(s.WorstSeverity), Stripe: i%2 == 1,
		Title:  fmt.Sprintf("%s/%s: %s ready, %s", s.Namespace, s.Name, readyColumn(s), orNone(string(s.WorstSeverity))),
		ReadyX: m.ReadyX, Ready: readyColumn(s), ReadyClass: "ready-ok"}
	if s.HealthyReplicas < s.Quorum {
		mr.ReadyClass = "ready-bad"
	} else if s.ReadyReplicas < s.DesiredReplicas {
		mr.ReadyClass = "ready-warn"
	}
	other := &cellAgg{}
	otherClass := ""
	rc := p.cells[i]
	names := make([]string, 0, len(rc))
	for n := range rc {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c := rc[n]
		col := p.colIndex[n]
		switch {
		case n == "":
			col = p.pendingCol
		case p.hidden[n]:
			other.merge(c)
			otherClass = worstClass(otherClass, c.class(false))
			continue
		}
		cl := c.class(n == "")
		mr.Cells = append(mr.Cells, m.cell(col, y, cl, c.text(), c.title(label, n, cl)))
	}
	if otherClass != "" {
		mr.Cells = append(mr.Cells, m.cell(p.otherCol, y, otherClass, other.text(), other.title(label, "other nodes", otherClass)))
	}
	return mr
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
