package webhook

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// The request's values reach every line logged through the logger, and lines derived from it,
// with the caller of the line (not the wrapper) and the parent's verbosity.
func TestRequestValuesAreLoggedLazily(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{LogCaller: funcr.All, Verbosity: 1})

	log := withRequestValues(base, "uid", "u-1", "name", "db")
	log.Info("plain")
	log.Error(errors.New("boom"), "failed")
	log.V(1).Info("verbose")
	log.V(2).Info("too verbose")
	log.WithValues("policy", "p").Info("derived")
	log.WithName("sub").Info("named")
	withRequestValues(base.V(1), "uid", "u-2").V(1).Info("over the parent's level")
	withRequestValues(logr.Discard(), "uid", "u-3").Info("discarded")

	want := []string{`"plain"`, `"failed"`, `"verbose"`, `"derived"`, `"named"`}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		for _, part := range []string{want[i], `"uid"="u-1"`, `"name"="db"`, `"file"="log_test.go"`} {
			if !strings.Contains(line, part) {
				t.Errorf("line %d lacks %s: %s", i, part, line)
			}
		}
	}
	if !strings.Contains(lines[1], `"error"="boom"`) || !strings.Contains(lines[3], `"policy"="p"`) {
		t.Errorf("error or derived values missing:\n%s", strings.Join(lines, "\n"))
	}
}

// A sink that cannot skip frames gets the values at once, so that it never reports the
// wrapper as the caller.
func TestRequestValuesWithoutCallDepth(t *testing.T) {
	log := withRequestValues(logr.New(&plainSink{}), "uid", "u-1")
	if _, lazy := log.GetSink().(*lazyValues); lazy {
		t.Fatal("a sink without call depth was wrapped")
	}
	log.Info("x")
	got, ok := log.GetSink().(*plainSink)
	if !ok || len(got.values) != 2 || got.values[0] != "uid" || got.lines != 1 {
		t.Errorf("sink %+v; want values [uid u-1] and 1 line", log.GetSink())
	}
}

// plainSink is a LogSink without CallDepthLogSink that counts lines and keeps its values.
type plainSink struct {
	values []any
	lines  int
}

func (s *plainSink) Init(logr.RuntimeInfo)       {}
func (s *plainSink) Enabled(int) bool            { return true }
func (s *plainSink) Info(int, string, ...any)    { s.lines++ }
func (s *plainSink) Error(error, string, ...any) { s.lines++ }
func (s *plainSink) WithValues(kv ...any) logr.LogSink {
	return &plainSink{values: append(slices.Clone(s.values), kv...), lines: s.lines}
}
func (s *plainSink) WithName(string) logr.LogSink { return s }
