package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/stowage-dev/stowage/policy"
)

// junitSink writes JUnit XML: a test suite per source, a test case per evaluated object that
// fails on error-severity violations, and an errored case per input error.
type junitSink struct {
	w      io.Writer
	suites []*junitSuite
	index  map[string]*junitSuite
}

type junitSuites struct {
	XMLName  xml.Name      `xml:"testsuites"`
	Name     string        `xml:"name,attr"`
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Errors   int           `xml:"errors,attr"`
	Suites   []*junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func (s *junitSink) suite(source string) *junitSuite {
	if s.index == nil {
		s.index = map[string]*junitSuite{}
	}
	if su, ok := s.index[source]; ok {
		return su
	}
	su := &junitSuite{Name: source}
	s.index[source] = su
	s.suites = append(s.suites, su)
	return su
}

func (s *junitSink) result(r *Result) {
	su := s.suite(r.Source)
	c := junitCase{Name: fmt.Sprintf("%s %s", r.Kind, ref(r)), Classname: r.Source}
	var failures, warnings []string
	var firstRule string
	for _, v := range r.Violations {
		line := fmt.Sprintf("%s:%d: %s: %s: %s", r.Source, v.Line, v.Rule, v.Field, v.Message)
		if v.Severity == policy.SeverityError {
			if firstRule == "" {
				firstRule = string(v.Rule)
			}
			failures = append(failures, line)
		} else {
			warnings = append(warnings, "warning: "+line)
		}
	}
	if len(failures) > 0 {
		c.Failure = &junitProblem{Message: fmt.Sprintf("%d policy violation(s)", len(failures)), Type: firstRule, Text: strings.Join(failures, "\n")}
		su.Failures++
	}
	var out []string
	out = append(out, warnings...)
	for _, op := range r.Patch {
		out = append(out, fmt.Sprintf("change: %s %s", op.Operation, FieldPath(op.Path)))
	}
	c.SystemOut = strings.Join(out, "\n")
	su.Tests++
	su.Cases = append(su.Cases, c)
}

func (s *junitSink) inputError(e *InputError) {
	su := s.suite(e.Source)
	su.Tests++
	su.Errors++
	su.Cases = append(su.Cases, junitCase{Name: fmt.Sprintf("read %s:%d", e.Source, e.Line), Classname: e.Source,
		Error: &junitProblem{Message: e.Message, Type: "InputError", Text: fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Message)}})
}

func (s *junitSink) inputWarning(e *InputError) {
	su := s.suite(e.Source)
	su.Tests++
	su.Cases = append(su.Cases, junitCase{Name: fmt.Sprintf("read %s:%d", e.Source, e.Line), Classname: e.Source,
		SystemOut: fmt.Sprintf("warning: %s:%d: %s", e.Source, e.Line, e.Message)})
}

func (s *junitSink) diff([]byte) {}

func (s *junitSink) finish(*Summary) error {
	all := junitSuites{Name: "stowage check", Suites: s.suites}
	for _, su := range s.suites {
		all.Tests += su.Tests
		all.Failures += su.Failures
		all.Errors += su.Errors
	}
	if _, err := io.WriteString(s.w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(s.w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(s.w, "\n")
	return err
}
