package provisioner

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

func TestProvision(t *testing.T) {
	nodes := map[string]*corev1.Node{
		"node-a":     {ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{HostnameLabel: "host-a"}}},
		"unlabelled": {ObjectMeta: metav1.ObjectMeta{Name: "unlabelled"}},
	}
	p, err := New(func(_ context.Context, name string) (*corev1.Node, error) {
		if n, ok := nodes[name]; ok {
			return n, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
	})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(size string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data-web-0"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			},
		}
		if size != "" {
			c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
		}
		return c
	}
	retain := corev1.PersistentVolumeReclaimRetain
	retainClass := StorageClass()
	retainClass.ReclaimPolicy = &retain

	tests := []struct {
		name      string
		opts      controller.ProvisionOptions
		wantState controller.ProvisioningState
		wantErr   string
		check     func(t *testing.T, pv *corev1.PersistentVolume)
	}{
		{
			name:      "selected node with hostname label → volume pinned to that hostname",
			opts:      controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-1", PVC: claim("5Gi"), SelectedNodeName: "node-a"},
			wantState: controller.ProvisioningFinished,
			check: func(t *testing.T, pv *corev1.PersistentVolume) {
				want := &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: HostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"host-a"}}},
				}}}}
				if diff := cmp.Diff(want, pv.Spec.NodeAffinity); diff != "" {
					t.Errorf("node affinity (-want +got):\n%s", diff)
				}
				if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != "/var/openebs/local/pvc-1" {
					t.Errorf("hostPath = %+v, want /var/openebs/local/pvc-1", pv.Spec.HostPath)
				}
				if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("5Gi")) != 0 {
					t.Errorf("capacity = %s, want 5Gi", got.String())
				}
				if diff := cmp.Diff([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pv.Spec.AccessModes); diff != "" {
					t.Errorf("access modes (-want +got):\n%s", diff)
				}
				if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != StorageClassName {
					t.Errorf("reclaim %q class %q, want Delete and %s", pv.Spec.PersistentVolumeReclaimPolicy, pv.Spec.StorageClassName, StorageClassName)
				}
			},
		},
		{
			name:      "class with Retain → volume keeps Retain",
			opts:      controller.ProvisionOptions{StorageClass: retainClass, PVName: "pvc-2", PVC: claim("1Gi"), SelectedNodeName: "node-a"},
			wantState: controller.ProvisioningFinished,
			check: func(t *testing.T, pv *corev1.PersistentVolume) {
				if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
					t.Errorf("reclaim = %q, want Retain", pv.Spec.PersistentVolumeReclaimPolicy)
				}
			},
		},
		{
			name:      "no selected node (immediate binding) → final error",
			opts:      controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-3", PVC: claim("1Gi")},
			wantState: controller.ProvisioningFinished,
			wantErr:   "WaitForFirstConsumer",
		},
		{
			name:      "selected node gone → reschedule",
			opts:      controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-4", PVC: claim("1Gi"), SelectedNodeName: "gone"},
			wantState: controller.ProvisioningReschedule,
			wantErr:   "no longer exists",
		},
		{
			name:      "selected node without hostname label → reschedule",
			opts:      controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-5", PVC: claim("1Gi"), SelectedNodeName: "unlabelled"},
			wantState: controller.ProvisioningReschedule,
			wantErr:   "has no kubernetes.io/hostname label",
		},
		{
			name:      "claim without a storage request → final error",
			opts:      controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-6", PVC: claim(""), SelectedNodeName: "node-a"},
			wantState: controller.ProvisioningFinished,
			wantErr:   "requests no storage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv, state, err := p.Provision(context.Background(), tt.opts)
			if state != tt.wantState {
				t.Errorf("state = %s, want %s", state, tt.wantState)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, pv)
			}
		})
	}
}

func TestStorageClass(t *testing.T) {
	sc := StorageClass()
	if sc.Name != "openebs-hostpath" || sc.Provisioner != "openebs.io/local" {
		t.Errorf("name %q provisioner %q", sc.Name, sc.Provisioner)
	}
	if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != "WaitForFirstConsumer" {
		t.Errorf("volumeBindingMode = %v, want WaitForFirstConsumer", sc.VolumeBindingMode)
	}
	if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("reclaimPolicy = %v, want Delete", sc.ReclaimPolicy)
	}
	for _, key := range []string{"storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"} {
		if _, ok := sc.Annotations[key]; ok {
			t.Errorf("class carries %s; it must not be the default", key)
		}
	}
}
