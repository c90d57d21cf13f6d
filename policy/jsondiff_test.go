package policy

import (
	"encoding/json"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestDiffTyped checks the typed differ against an independent RFC 6902 implementation: the
// patch applied to a's JSON must give b's JSON, and the operations must be the minimal ones
// listed.
func TestDiffTyped(t *testing.T) {
	type inner struct {
		Name  string            `json:"name"`
		Tags  map[string]string `json:"tags,omitempty"`
		Count *int32            `json:"count,omitempty"`
	}
	type doc struct {
		metav1.TypeMeta `json:",inline"`
		Title           string                `json:"title,omitempty"`
		Items           []inner               `json:"items,omitempty"`
		Quantity        resource.Quantity     `json:"quantity"`
		Port            intstr.IntOrString    `json:"port"`
		Nested          *inner                `json:"nested,omitempty"`
		Always          []string              `json:"always"`
		Labels          map[string]string     `json:"labels,omitempty"`
		Skip            string                `json:"-"`
		Selector        *metav1.LabelSelector `json:"selector,omitempty"`
	}
	base := func() doc {
		return doc{Title: "t", Items: []inner{{Name: "a"}, {Name: "b"}, {Name: "c"}}, Quantity: resource.MustParse("1Gi"),
			Port: intstr.FromInt32(80), Always: []string{"x"}}
	}
	tests := []struct {
		name   string
		change func(*doc)
		want   []string // "op path"
	}{
		{"no change → no operations", func(*doc) {}, nil},
		{"field set from empty → add", func(d *doc) { d.Labels = map[string]string{"a/b~c": "1"} }, []string{"add /labels"}},
		{"map key added → add with escaped key", func(d *doc) {}, nil},
		{"omitempty field cleared → remove", func(d *doc) { d.Title = "" }, []string{"remove /title"}},
		{"scalar changed → replace", func(d *doc) { d.Title = "u" }, []string{"replace /title"}},
		{"element appended → add at its index", func(d *doc) { d.Items = append(d.Items, inner{Name: "d"}) }, []string{"add /items/3"}},
		{"middle element removed → remove at its index", func(d *doc) { d.Items = append(d.Items[:1:1], d.Items[2:]...) }, []string{"remove /items/1"}},
		{"first and last removed → removes from the highest index", func(d *doc) { d.Items = d.Items[1:2] }, []string{"remove /items/2", "remove /items/0"}},
		{"element field changed → nested replace", func(d *doc) { d.Items = []inner{{Name: "a"}, {Name: "B"}, {Name: "c"}} }, []string{"replace /items/1/name"}},
		{"pointer set → add", func(d *doc) { d.Nested = &inner{Name: "n"} }, []string{"add /nested"}},
		{"quantity changed → replaced as a whole", func(d *doc) { d.Quantity = resource.MustParse("2Gi") }, []string{"replace /quantity"}},
		{"int-or-string changed type → replaced as a whole", func(d *doc) { d.Port = intstr.FromString("http") }, []string{"replace /port"}},
		{"non-omitempty list emptied → replaced", func(d *doc) { d.Always = nil }, []string{"replace /always"}},
		{"ignored field → nothing", func(d *doc) { d.Skip = "x" }, nil},
		{"inlined TypeMeta → top-level kind", func(d *doc) { d.Kind = "Thing" }, []string{"add /kind"}},
		{"selector matchLabels key with a slash → escaped", func(d *doc) {
			d.Selector = &metav1.LabelSelector{}
		}, []string{"add /selector"}},
		{"reordered elements → replaced", func(d *doc) { d.Items = []inner{{Name: "c"}, {Name: "b"}, {Name: "a"}, {Name: "e"}} }, []string{"replace /items"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			b := base()
			tc.change(&b)
			ops := diffTyped(nil, "", &a, &b)
			var got []string
			for _, o := range ops {
				got = append(got, o.Operation+" "+o.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			applyAndCompare(t, &a, &b, ops)
		})
	}
	t.Run("map keys with / and ~ are escaped", func(t *testing.T) {
		a := base()
		a.Labels = map[string]string{"keep": "1"}
		b := base()
		b.Labels = map[string]string{"keep": "1", "kubernetes.io/host~name": "x"}
		ops := diffTyped(nil, "", &a, &b)
		if len(ops) != 1 || ops[0].Path != "/labels/kubernetes.io~1host~0name" {
			t.Fatalf("ops = %+v", ops)
		}
		applyAndCompare(t, &a, &b, ops)
	})
}

func applyAndCompare(t *testing.T, a, b any, ops any) {
	t.Helper()
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	pj, _ := json.Marshal(ops)
	if string(pj) == "null" {
		pj = []byte("[]")
	}
	p, err := jsonpatch5.DecodePatch(pj)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Apply(aj)
	if err != nil {
		t.Fatalf("apply %s: %v", pj, err)
	}
	if !jsonpatch5.Equal(got, bj) {
		t.Fatalf("patch %s gives\n%s\nwant\n%s", pj, got, bj)
	}
}

func TestDiffTypedOnPodSpecs(t *testing.T) {
	// The differ must agree with encoding/json on the real types it diffs in production.
	a := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}
	b := a.DeepCopy()
	b.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{ownTerm()}}}
	b.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	b.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	ops := diffTyped(nil, "/spec", a, b)
	var got []string
	for _, o := range ops {
		got = append(got, o.Operation+" "+o.Path)
	}
	want := []string{"add /spec/containers/0/resources/requests", "add /spec/nodeSelector", "add /spec/affinity"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
