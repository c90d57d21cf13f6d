package webhook

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps webhook/ the admission adapter: it decides through policy/ and never reaches
// into the audit, the controllers or recovery, which run elsewhere (controllers/, recovery/).
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/stowage-dev/stowage/audit",
		"github.com/stowage-dev/stowage/controllers",
		"github.com/stowage-dev/stowage/recovery",
		"github.com/stowage-dev/stowage/check",
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s: webhook/ is the admission adapter only", f, path)
				}
			}
		}
	}
}
