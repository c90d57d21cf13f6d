package check

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stowage-dev/stowage/internal/policyfile"
	"github.com/stowage-dev/stowage/internal/stream"
	"github.com/stowage-dev/stowage/internal/testcorpus"
	"github.com/stowage-dev/stowage/policy"
)

// Reading the documents Stowage does not judge without parsing them, and those it judges with
// stream.PlainTree, changes nothing a check says: the report, the fixed manifests and the diff
// are the same as when go-yaml parses every document, for the corpus and for documents that are
// broken, obsolete, in a namespace or not, or in forms Plain leaves to the parser, and for
// StatefulSets and claims whose fields are wrong, repeated or written in every scalar style.
func TestUnjudgedDocumentsReadLazilyReportTheSame(t *testing.T) {
	dir := t.TempDir()
	for _, name := range testcorpus.Files(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(filepath.Dir(name))+"-"+filepath.Base(name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	odd := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: b: c\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tabbed\n  namespace: other\ndata:\n\ta: b\n" +
		"---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: obsolete\n" +
		"---\n# Source: a comment only\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  namespace: data\nspec:\n  ports: [{port: 80}]\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: plain\nspec:\n  ports:\n  - port: 80\n" +
		"---\nkind: Secret\nmetadata:\n  name: no-api-version\n" +
		"---\napiVersion: v1\nkind: ConfigMapList\nitems: []\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: |\n    one\n  two\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escaped\ndata:\n  u: \"http:\\/\\/x\"\n" +
		"---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: typed\n  namespace: data\n  labels: {}\nspec:\n  replicas: \"3\"\n" +
		"  serviceName: 'db'\n  selector:\n    matchLabels:\n      app: db\n  template:\n    metadata:\n      labels:\n        app: db\n" +
		"    spec:\n      containers:\n      - name: db\n        image: \"db:1\\u00e9\"\n        args: [\"-x\", run, 'it''s']\n" +
		"        command:\n        -\n        - >-\n          folded\n          line\n        env:\n        - name: A\n          value: |\n            one\n\n            two\n" +
		"        - name: B\n          value: 08\n        bogus: true\n" +
		"---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: twice\n  namespace: data\nspec:\n  replicas: 3\n  replicas: 2\n" +
		"  serviceName: db\n  selector:\n    matchLabels:\n      app: t\n  template:\n    metadata:\n      labels:\n        app: t\n" +
		"    spec:\n      containers:\n      - name: t\n        image: t\n" +
		"---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: claim\n  namespace: data\nspec:\n  accessModes: [ReadWriteOnce]\n" +
		"  resources:\n    requests:\n      storage: 1Gi\n"
	if err := os.WriteFile(filepath.Join(dir, "odd.yaml"), []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := map[bool]string{}
	for _, lazy := range []bool{true, false} {
		for _, mode := range []string{"report", "fix", "diff"} {
			readUnjudgedLazily, readPlainTrees = lazy, lazy
			var out, errb bytes.Buffer
			code, err := Run(context.Background(), Options{Policies: policy.NewSet(policyfile.Default()), Output: OutputJSON,
				Fix: mode == "fix", Diff: mode == "diff", Stdout: &out, Stderr: &errb}, []string{dir})
			readUnjudgedLazily, readPlainTrees = true, true
			if err != nil {
				t.Fatal(err)
			}
			runs[lazy] += fmt.Sprintf("%s: exit %d\nstderr %s\nstdout:\n%s\n", mode, code, errb.String(), out.String())
		}
	}
	if diff := cmp.Diff(runs[false], runs[true]); diff != "" {
		t.Errorf("reading unjudged documents lazily changes the run (-parsed +lazy):\n%s", diff)
	}
	for _, want := range []string{"mapping values are not allowed", `"line":14`, "tab", "obsolete", "no-api-version", "unknown escape",
		"typed", "twice", "claim", "bogus"} {
		if !strings.Contains(runs[true], want) {
			t.Errorf("the run does not report %q", want)
		}
	}

	// And the lazy reading is taken: most of the corpus's unjudged documents are read so.
	lazy, unjudgedDocs := 0, 0
	for _, name := range testcorpus.Files(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range stream.Split(data) {
			if m, ok := quickMeta(c.Text); ok && !evaluated(m.APIVersion, m.Kind) {
				unjudgedDocs++
				if unjudged(name, c, i, meta{}) != nil {
					lazy++
				}
			}
		}
	}
	if lazy*10 < unjudgedDocs*9 {
		t.Errorf("only %d of %d unjudged corpus documents are read without parsing", lazy, unjudgedDocs)
	}
}
