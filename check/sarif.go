package check

import (
	"encoding/json"
	"io"

	"github.com/stowage-dev/stowage/policy"
)

// sarifSink writes a SARIF 2.1.0 log for code-scanning UIs.
type sarifSink struct {
	w       io.Writer
	version string
	results []sarifResult
	notes   []sarifNotification
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ExitCode                   int                 `json:"exitCode"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
	LogicalLocations []struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
	} `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *struct {
		StartLine int `json:"startLine"`
	} `json:"region,omitempty"`
}

func location(source string, line int, name string) sarifLocation {
	var l sarifLocation
	l.PhysicalLocation.ArtifactLocation.URI = source
	if line > 0 {
		l.PhysicalLocation.Region = &struct {
			StartLine int `json:"startLine"`
		}{line}
	}
	if name != "" {
		l.LogicalLocations = append(l.LogicalLocations, struct {
			FullyQualifiedName string `json:"fullyQualifiedName"`
		}{name})
	}
	return l
}

func sarifLevel(s policy.Severity) string {
	if s == policy.SeverityError {
		return "error"
	}
	return "warning"
}

func (s *sarifSink) result(r *Result) {
	for _, v := range r.Violations {
		s.results = append(s.results, sarifResult{
			RuleID:    string(v.Rule),
			Level:     sarifLevel(v.Severity),
			Message:   sarifMessage{Text: r.Kind + " " + ref(r) + ": " + v.Field + ": " + v.Message},
			Locations: []sarifLocation{location(r.Source, v.Line, r.Kind+"/"+ref(r)+"/"+v.Field)},
		})
	}
}

func (s *sarifSink) inputError(e *InputError) {
	s.notes = append(s.notes, sarifNotification{Level: "error", Message: sarifMessage{Text: e.Message},
		Locations: []sarifLocation{location(e.Source, e.Line, "")}})
}

func (s *sarifSink) inputWarning(e *InputError) {
	s.notes = append(s.notes, sarifNotification{Level: "warning", Message: sarifMessage{Text: e.Message},
		Locations: []sarifLocation{location(e.Source, e.Line, "")}})
}

func (s *sarifSink) diff([]byte) {}

func (s *sarifSink) finish(sum *Summary) error {
	driver := sarifDriver{Name: "stowage", Version: s.version, InformationURI: "https://github.com/stowage-dev/stowage"}
	for _, r := range policy.Rules() {
		sr := sarifRule{ID: string(r.ID), ShortDescription: sarifMessage{Text: r.Summary}}
		sr.DefaultConfiguration.Level = sarifLevel(r.Severity)
		driver.Rules = append(driver.Rules, sr)
	}
	if s.results == nil {
		s.results = []sarifResult{}
	}
	if s.notes == nil {
		s.notes = []sarifNotification{}
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:        sarifTool{Driver: driver},
			Invocations: []sarifInvocation{{ExecutionSuccessful: sum.InputErrors == 0, ExitCode: sum.ExitCode, ToolExecutionNotifications: s.notes}},
			Results:     s.results,
		}},
	}
	enc := json.NewEncoder(s.w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

func ref(r *Result) string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}
