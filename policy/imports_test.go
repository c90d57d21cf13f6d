package policy

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports holds policy/ (and its api package) to the imports doc.go allows: no clients, no
// I/O libraries, no logging beyond a discarding logger handed to component-helpers.
func TestImports(t *testing.T) {
	allowed := []string{
		"k8s.io/api/", "k8s.io/apimachinery/", "k8s.io/utils/", "k8s.io/component-helpers/",
		"gomodules.xyz/jsonpatch/v2", "github.com/go-logr/logr",
		"github.com/stowage-dev/stowage/policy/api/v1alpha1",
	}
	forbiddenStd := []string{"os", "os/exec", "net", "net/http", "io/ioutil", "log", "log/slog", "time", "syscall"}
	files, _ := filepath.Glob("*.go")
	api, _ := filepath.Glob("api/v1alpha1/*.go")
	for _, f := range append(files, api...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			ok := !strings.Contains(strings.Split(path, "/")[0], ".") // the standard library
			for _, std := range forbiddenStd {
				if path == std {
					ok = false
				}
			}
			for _, a := range allowed {
				if path == a || strings.HasPrefix(path, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which policy/doc.go does not allow", f, path)
			}
		}
	}
}
