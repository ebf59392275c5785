// Package apiwrites counts every write a controller-runtime client makes to the API server, by kind
// and verb, as the Prometheus counter flotilla_apiserver_writes_total. At steady state it does not
// move: a resync that finds nothing to change writes nothing.
package apiwrites

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Writes counts the manager's writes to the API server by object kind and verb.
var Writes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "flotilla_apiserver_writes_total",
	Help: "Writes Flotilla made to the Kubernetes API server, by object kind and verb.",
}, []string{"kind", "verb"})

var total atomic.Int64

func init() {
	metrics.Registry.MustRegister(Writes)
}

// Total is the number of writes counted so far, all kinds and verbs together.
func Total() int64 { return total.Load() }

// NewClient is a controller-runtime NewClientFunc: the default client, with every write counted.
func NewClient(cfg *rest.Config, o client.Options) (client.Client, error) {
	c, err := client.New(cfg, o)
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// Wrap counts every write made through c.
func Wrap(c client.Client) client.Client { return &counting{Client: c} }

type counting struct{ client.Client }

func (c *counting) count(obj any, verb string) {
	kind := "unknown"
	switch o := obj.(type) {
	case runtime.Object:
		if gvk, err := apiutil.GVKForObject(o, c.Scheme()); err == nil {
			kind = gvk.Kind
		}
	case interface{ GetKind() *string }:
		if k := o.GetKind(); k != nil {
			kind = *k
		}
	}
	Writes.WithLabelValues(kind, verb).Inc()
	total.Add(1)
}

func (c *counting) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.count(obj, "create")
	return c.Client.Create(ctx, obj, opts...)
}

func (c *counting) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.count(obj, "update")
	return c.Client.Update(ctx, obj, opts...)
}

func (c *counting) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.count(obj, "patch")
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *counting) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.count(obj, "apply")
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *counting) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.count(obj, "delete")
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *counting) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c.count(obj, "delete")
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *counting) Status() client.SubResourceWriter {
	return &subresource{SubResourceWriter: c.Client.Status(), parent: c, verb: "-status"}
}

func (c *counting) SubResource(name string) client.SubResourceClient {
	sc := c.Client.SubResource(name)
	return &subresourceClient{SubResourceClient: sc, w: subresource{SubResourceWriter: sc, parent: c, verb: "-" + name}}
}

type subresource struct {
	client.SubResourceWriter
	parent *counting
	verb   string
}

func (s *subresource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.parent.count(obj, "create"+s.verb)
	return s.SubResourceWriter.Create(ctx, obj, sub, opts...)
}

func (s *subresource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.parent.count(obj, "update"+s.verb)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *subresource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.parent.count(obj, "patch"+s.verb)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s *subresource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.parent.count(obj, "apply"+s.verb)
	return s.SubResourceWriter.Apply(ctx, obj, opts...)
}

// subresourceClient keeps the reads of a SubResourceClient and counts its writes.
type subresourceClient struct {
	client.SubResourceClient
	w subresource
}

func (s *subresourceClient) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	return s.w.Create(ctx, obj, sub, opts...)
}

func (s *subresourceClient) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.w.Update(ctx, obj, opts...)
}

func (s *subresourceClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.w.Patch(ctx, obj, patch, opts...)
}

func (s *subresourceClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	return s.w.Apply(ctx, obj, opts...)
}
