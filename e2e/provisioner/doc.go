// Package provisioner is an in-process dynamic volume provisioner for end-to-end tests. It
// stands in for the OpenEBS local hostpath provisioner (provisioner name openebs.io/local), the
// storage that Stowage's users most often pair with StatefulSets: every volume lives on exactly
// one node, so a replica can never move off the node its volume was provisioned on. That is the
// property Stowage's e2e suites need to exercise, and this package reproduces it on kwok's fake
// nodes without a kubelet or a disk.
//
// For a claim on a WaitForFirstConsumer StorageClass it creates a PersistentVolume with hostPath
// /var/openebs/local/<pv-name>, the claim's capacity and access modes, the class's reclaim policy
// and a required node affinity on kubernetes.io/hostname that pins it to the node the scheduler
// selected. Deleting a volume touches nothing on disk: the nodes are fake.
//
// It is test-only code. It may import the standard library, k8s.io/api, apimachinery,
// client-go, golang.org/x/time/rate and sigs.k8s.io/sig-storage-lib-external-provisioner; never
// Stowage's own packages, so that the suites test the product against independent storage. The
// library logs through klog, with the logger found in the context given to Start.
package provisioner
