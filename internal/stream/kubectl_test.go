package stream

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
)

// kubectlDecode decodes a one-object stream the way `kubectl apply -f` and the API server do:
// kubectl's YAMLOrJSONDecoder (sigs.k8s.io/yaml, YAML 1.1) into a RawExtension, then the API
// server's strict, case-sensitive JSON decoding into the typed object. It returns whether the
// object is accepted.
func kubectlDecode(t *testing.T, src string, obj any) error {
	t.Helper()
	dec := kyaml.NewYAMLOrJSONDecoder(strings.NewReader(src), 4096)
	var ext runtime.RawExtension
	if err := dec.Decode(&ext); err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(ext.Raw, obj, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return errors.Join(strict...)
	}
	var more runtime.RawExtension
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		t.Fatalf("test stream holds more than one object")
	}
	return nil
}

// TestDecodeAgreesWithKubectl: Decode accepts and rejects exactly what kubectl's own decoder
// does, and decodes the same values, on the YAML 1.1 / 1.2 differences (issue 10, item 4).
func TestDecodeAgreesWithKubectl(t *testing.T) {
	head := "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n"
	tests := []struct {
		name string
		src  string
		// line is the line Stowage must blame when both reject the object.
		line int
	}{
		{"plain yes as a label value → a bool, rejected", head + "  labels: {a: yes}\n", 5},
		{"plain on and off as label values, block style → rejected at the label", head + "  labels:\n    x: b\n    a: on\n", 7},
		{"plain no as a selector value → rejected", head + "spec:\n  selector:\n    matchLabels:\n      app: no\n", 8},
		{"quoted yes → a string, accepted", head + "  labels: {a: \"yes\"}\n", 0},
		{"plain y and n → strings in labels? kubectl decides", head + "  labels: {a: y, b: n}\n", 5},
		{"0o17 replicas: an int in YAML 1.2, a string in 1.1 → rejected", head + "spec:\n  replicas: 0o17\n", 6},
		{"octal 010 replicas → kubectl's value", head + "spec:\n  replicas: 010\n", 0},
		{"1:30 as a string field → kubectl's value", head + "spec:\n  serviceName: 1:30\n", 0},
		{"duplicate key → accepted, last value", head + "spec:\n  replicas: 1\n  replicas: 4\n", 0},
		{"plain true as a string field → rejected", head + "spec:\n  serviceName: true\n", 6},
		{"~ and null → null", head + "spec:\n  serviceName: ~\n  replicas: null\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := &appsv1.StatefulSet{}
			kerr := kubectlDecode(t, tt.src, want)
			got := &appsv1.StatefulSet{}
			d := firstDoc(t, tt.src)
			fes, err := Decode(d, got)
			for _, fe := range fes {
				if !fe.Warning && err == nil {
					err = errors.New(fe.Message)
				}
			}
			if (kerr == nil) != (err == nil) {
				t.Fatalf("kubectl: %v; stowage: %v", kerr, err)
			}
			if kerr != nil {
				if tt.line == 0 {
					t.Fatalf("both reject (%v); the test expects acceptance", err)
				}
				if got := ErrorLine(err); got != tt.line {
					t.Errorf("error %q at line %d, want %d", err, got, tt.line)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded object differs from kubectl's (-kubectl +stowage):\n%s", diff)
			}
		})
	}
}
