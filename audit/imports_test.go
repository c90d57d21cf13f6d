package audit

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds audit/ and audit/render/ to the imports their doc.go files allow: the
// analysis imports no client and no renderer, and the renderer imports only the standard library
// and the audit package. (policy.TestImports and webhook.TestImports keep both out of those.)
func TestImports(t *testing.T) {
	const module = "github.com/stowage-dev/stowage/"
	std := func(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }
	allowed := map[string]func(path string) bool{
		".": func(path string) bool {
			return std(path) || strings.HasPrefix(path, "k8s.io/api/") || strings.HasPrefix(path, "k8s.io/apimachinery/") ||
				path == module+"policy" || strings.HasPrefix(path, module+"policy/api/") || path == module+"internal/policyfile" ||
				path == module+"internal/operatorcr"
		},
		"render": func(path string) bool { return std(path) || path == module+"audit" },
	}
	for dir, ok := range allowed {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range pkg.Imports {
			if !ok(path) {
				t.Errorf("audit/%s imports %s, which its doc.go does not allow", dir, path)
			}
		}
	}
}
