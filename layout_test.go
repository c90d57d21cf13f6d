// Package stowage_test checks the repository's layout against README.md: every Go package is
// named in the Development block, and every package comment says what the package may import.
// It holds no other code, and may import the standard library only.
package stowage_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// packages lists the module's package folders, relative to its root: every folder with a .go
// file, test-only ones (e2e/) included, except this root one (it holds only this test),
// testdata folders, hidden folders, bin/ and the separate modules under tools/ (any folder with a
// go.mod of its own).
func packages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (name == "testdata" || strings.HasPrefix(name, ".") || path == "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if dir := filepath.ToSlash(filepath.Dir(path)); strings.HasSuffix(path, ".go") && dir != "." && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found only %d packages (%v); is the test running from the module root?", len(dirs), dirs)
	}
	return dirs
}

// readmeLayout returns the folders the README's "## Development" block names: the first word
// of each line that does not start with a space, without its trailing slash.
func readmeLayout(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	named := map[string]bool{}
	section, block := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## Development"
		case section && strings.HasPrefix(line, "```"):
			if block {
				return named
			}
			block = true
		case block && line != "" && line[0] != ' ':
			named[strings.TrimSuffix(strings.Fields(line)[0], "/")] = true
		}
	}
	t.Fatal(`README.md has no "## Development" section with a layout block`)
	return nil
}

func TestREADMENamesEveryPackage(t *testing.T) {
	named := readmeLayout(t)
	for _, dir := range packages(t) {
		if !named[dir] {
			t.Errorf("README.md's Development block does not name %s/; add a line saying what it is for", dir)
		}
	}
}

func TestEveryPackageSaysWhatItMayImport(t *testing.T) {
	for _, dir := range packages(t) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		var doc strings.Builder
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil {
				doc.WriteString(f.Doc.Text())
			}
		}
		switch {
		case doc.Len() == 0:
			t.Errorf("%s/ has no package comment; add a doc.go saying what it is for and what it may import", dir)
		case !strings.Contains(doc.String(), "may import"):
			t.Errorf("%s/'s package comment does not say what it may import", dir)
		}
	}
}
