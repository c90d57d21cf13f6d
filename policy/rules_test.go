package policy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRulesAreDescribed reads the rule files and fails when a file reports a rule it does not
// describe in its own checker, or describes one it never reports: a rule's ID, description and
// logic live in one file.
func TestRulesAreDescribed(t *testing.T) {
	files, err := filepath.Glob("rule_*.go")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{} // rule ID constant → file describing it
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var described, reported []string
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr: // RuleInfo{ID: X} describes, Violation{Rule: X} reports
				key, ok := n.Key.(*ast.Ident)
				val, isIdent := n.Value.(*ast.Ident)
				if ok && isIdent && key.Name == "ID" {
					described = append(described, val.Name)
				}
				if ok && isIdent && key.Name == "Rule" {
					reported = append(reported, val.Name)
				}
			case *ast.CallExpr: // c.report(X, ...), c.reportBudgets(X, ...)
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "report" || sel.Sel.Name == "reportBudgets") && len(n.Args) > 0 {
					if id, ok := n.Args[0].(*ast.Ident); ok {
						reported = append(reported, id.Name)
					} else {
						t.Errorf("%s:%d: report's rule must be a RuleID constant of the file", f, fset.Position(n.Pos()).Line)
					}
				}
			}
			return true
		})
		if len(described) == 0 {
			t.Errorf("%s describes no rule: register a checker with addChecker in its init", f)
		}
		for _, r := range reported {
			if !slices.Contains(described, r) {
				t.Errorf("%s reports %s but does not describe it in its checker", f, r)
			}
		}
		for _, d := range described {
			if !slices.Contains(reported, d) {
				t.Errorf("%s describes %s but never reports it", f, d)
			}
			if other, dup := all[d]; dup {
				t.Errorf("%s is described in %s and %s", d, other, f)
			}
			all[d] = f
		}
	}
	if len(all) != len(Rules()) {
		t.Errorf("the rule files describe %d rules, Rules() lists %d", len(all), len(Rules()))
	}
}

// TestEveryRuleHasAFixture: every described rule is reported by at least one golden fixture, and
// every rule a fixture reports is described. Unlike a check of Rules() against itself, this ties
// the list to what the engine really emits.
func TestEveryRuleHasAFixture(t *testing.T) {
	emitted := map[RuleID]bool{}
	for _, in := range fixtures(t) {
		res := loadFixture(t, in).evaluate(t)
		for _, v := range res.Violations {
			emitted[v.Rule] = true
			if ruleIndex[v.Rule] == nil {
				t.Errorf("%s: the engine reported %s, which no rule file describes", in, v.Rule)
			}
		}
	}
	for _, r := range Rules() {
		if !emitted[r.ID] {
			t.Errorf("no golden fixture under testdata/ reports %s: add one", r.ID)
		}
	}
}
