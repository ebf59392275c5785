package operator

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// APIWrites counts the manager's writes to the API server by kind and verb. At steady state it does
// not move: a resync that finds nothing to change writes nothing. Operators alert on its rate.
var APIWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "flotilla_apiserver_writes_total",
	Help: "Writes Flotilla made to the Kubernetes API server, by object kind and verb.",
}, []string{"kind", "verb"})

func init() {
	metrics.Registry.MustRegister(APIWrites)
}

// newCountingClient is the manager's NewClient: the default client, with every write counted.
func newCountingClient(cfg *rest.Config, o client.Options) (client.Client, error) {
	c, err := client.New(cfg, o)
	if err != nil {
		return nil, err
	}
	return &countingClient{Client: c}, nil
}

type countingClient struct{ client.Client }

func (c *countingClient) count(obj runtime.Object, verb string) {
	kind := "unknown"
	if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	APIWrites.WithLabelValues(kind, verb).Inc()
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.count(obj, "create")
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.count(obj, "update")
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.count(obj, "patch")
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.count(obj, "delete")
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), parent: c}
}

type countingStatus struct {
	client.SubResourceWriter
	parent *countingClient
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.parent.count(obj, "update-status")
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.parent.count(obj, "patch-status")
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	kind := "unknown"
	if k, ok := obj.(interface{ GetKind() *string }); ok && k.GetKind() != nil {
		kind = *k.GetKind()
	}
	APIWrites.WithLabelValues(kind, "apply").Inc()
	return c.Client.Apply(ctx, obj, opts...)
}
