package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// printXDS connects to the xDS server as one of the Gateway's Envoys would (the fleet Secret's
// certificate, the xDS server's CA from the fleet ConfigMap, node.cluster = the fleet key), prints what it receives, and the Gateway's
// DataPlaneAccepted condition once the client has acknowledged it.
func printXDS(ctx context.Context, c *cluster.Cluster, xdsAddr, ns, name string) error {
	gw := &gwapiv1.Gateway{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
		return err
	}
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: provisioner.SecretName(gw)}, secret); err != nil {
		return fmt.Errorf("reading the fleet Secret: %w", err)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: provisioner.FleetName(gw)}, cm); err != nil {
		return fmt.Errorf("reading the fleet ConfigMap: %w", err)
	}
	conf, err := xdstest.EnvoyTLS(secret.Data[pki.KeyCert], secret.Data[pki.KeyKey], []byte(cm.Data[provisioner.KeyXDSTrust]),
		"flotilla-xds."+operator.DefaultNamespace+".svc")
	if err != nil {
		return err
	}
	fleet := ns + "/" + name
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	xc, err := xdstest.Dial(ctx, xdsAddr, conf, &corev3.Node{Id: "demo-envoy", Cluster: fleet})
	if err != nil {
		return err
	}
	defer func() { _ = xc.Close() }()
	types := map[string]string{"listeners": resource.ListenerType, "routes": resource.RouteType,
		"clusters": resource.ClusterType, "endpoints": resource.EndpointType, "secrets": resource.SecretType}
	if err := xc.Wait(ctx, func() bool {
		return xc.Version(resource.ListenerType) != "" && xc.Version(resource.ClusterType) != "" &&
			len(xc.Subscriptions(resource.RouteType)) == len(xc.Names(resource.RouteType)) &&
			len(xc.Subscriptions(resource.EndpointType)) == len(xc.Names(resource.EndpointType))
	}); err != nil {
		return fmt.Errorf("receiving fleet %s's configuration: %w", fleet, err)
	}
	sections := map[string][]proto.Message{}
	fmt.Printf("xDS the Envoys of fleet %s receive (a real ADS client over mTLS with the fleet's certificate; versions are content hashes):\n", fleet)
	for _, s := range translate.Sections {
		typ := types[s]
		for _, n := range xc.Names(typ) {
			sections[s] = append(sections[s], xc.Resources(typ)[n])
		}
		fmt.Printf("  %-9s version %.12s  %d resources\n", s, xc.Version(typ), len(sections[s]))
	}
	out, err := translate.RenderYAML(sections, nil)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s\n", out)

	var cond string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		cur := &gwapiv1.Gateway{}
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		if dp := meta.FindStatusCondition(cur.Status.Conditions, controller.ConditionDataPlaneAccepted); dp != nil {
			cond = fmt.Sprintf("%s=%s (%s): %s", dp.Type, dp.Status, dp.Reason, dp.Message)
			if dp.Status == "True" {
				break
			}
		}
	}
	if cond == "" {
		return errors.New("the Gateway never reported its data plane condition")
	}
	fmt.Printf("Gateway %s: %s\n\n", fleet, cond)
	return nil
}
