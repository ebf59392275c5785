package provisioner

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Object is what every builder returns: a typed Kubernetes object with its TypeMeta set (it
// satisfies controller-runtime's client.Object).
type Object interface {
	metav1.Object
	runtime.Object
}

// FleetObjects is every desired object of one fleet except the Secret, which internal/pki owns.
type FleetObjects struct {
	// Objects are sorted by kind, then name; the HPA and PDB are absent when not configured, the
	// Service when the Gateway has no port to expose.
	Objects []Object
	// BootstrapChecksum is on the Deployment's Pod template.
	BootstrapChecksum string
	// Addresses are the Gateway's spec.addresses as the Service carries them, with the entries it
	// cannot honour.
	Addresses *Addresses
}

// Build returns the desired objects of the Gateway's fleet. Call it only with Params that Merge
// returned without refusals. An error is a bug (an invalid bootstrap).
func Build(gw *gwapiv1.Gateway, p Params) (*FleetObjects, error) {
	cm, checksum, err := ConfigMap(gw, p)
	if err != nil {
		return nil, err
	}
	f := &FleetObjects{BootstrapChecksum: checksum}
	svc, addrs := Service(gw, p)
	f.Addresses = addrs
	f.Objects = []Object{ServiceAccount(gw, p), cm, Deployment(gw, p, checksum)}
	if svc != nil {
		f.Objects = append(f.Objects, svc)
	}
	if hpa := HorizontalPodAutoscaler(gw, p); hpa != nil {
		f.Objects = append(f.Objects, hpa)
	}
	if pdb := PodDisruptionBudget(gw, p); pdb != nil {
		f.Objects = append(f.Objects, pdb)
	}
	slices.SortFunc(f.Objects, func(a, b Object) int {
		return cmp.Or(
			cmp.Compare(a.GetObjectKind().GroupVersionKind().Kind, b.GetObjectKind().GroupVersionKind().Kind),
			cmp.Compare(a.GetName(), b.GetName()))
	})
	return f, nil
}
