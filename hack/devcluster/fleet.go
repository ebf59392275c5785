package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// printFleet shows the objects Flotilla provisioned for a Gateway.
func printFleet(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	gw := &gwapiv1.Gateway{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
		return err
	}
	if len(gw.Status.Addresses) > 0 {
		fmt.Printf("  addresses: %s\n", gw.Status.Addresses[0].Value)
	}
	for _, l := range gw.Status.Listeners {
		var kinds []string
		for _, k := range l.SupportedKinds {
			kinds = append(kinds, string(k.Kind))
		}
		fmt.Printf("  listener %s: supportedKinds %s, attachedRoutes %d\n", l.Name, strings.Join(kinds, ","), l.AttachedRoutes)
	}
	key := client.ObjectKey{Namespace: ns, Name: provisioner.FleetName(gw)}
	fmt.Printf("\nFleet of Gateway %s/%s (all owned by the Gateway, applied server-side by field manager \"flotilla\"):\n", ns, name)
	dep := &appsv1.Deployment{}
	if err := c.Client.Get(ctx, key, dep); err != nil {
		fmt.Printf("  no fleet: %v\n", err)
		return nil
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	fmt.Printf("  Deployment/%s  %d/%d available  image %s\n    args %s\n    bootstrap checksum %s\n", key.Name, dep.Status.AvailableReplicas,
		ptrOr(dep.Spec.Replicas), ctr.Image, strings.Join(ctr.Args, " "), dep.Spec.Template.Annotations[provisioner.AnnotationBootstrapChecksum])
	svc := &corev1.Service{}
	if err := c.Client.Get(ctx, key, svc); err == nil {
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
		fmt.Printf("  Service/%s  %s %s  ports %s\n", key.Name, svc.Spec.Type, svc.Spec.ClusterIP, strings.Join(ports, " "))
	}
	if err := c.Client.Get(ctx, key, &corev1.ServiceAccount{}); err == nil {
		fmt.Printf("  ServiceAccount/%s\n", key.Name)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Client.Get(ctx, key, cm); err == nil {
		var keys []string
		for k := range cm.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Printf("  ConfigMap/%s  Envoy bootstrap and SDS files: %s\n", key.Name, strings.Join(keys, ", "))
	}
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, key, secret); err == nil {
		if cert, err := pki.ParseCert(secret.Data[pki.KeyCert]); err == nil {
			fleet, _ := pki.FleetFromCert(cert)
			fmt.Printf("  Secret/%s  client certificate for fleet %s (%s), valid until %s, renewed at %s\n", key.Name, fleet,
				cert.URIs[0], cert.NotAfter.Format("2006-01-02 15:04"), pki.RenewAt(cert).Format("2006-01-02 15:04"))
		}
	}
	pods := &corev1.PodList{}
	if err := c.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(provisioner.SelectorLabels(gw))); err == nil {
		for _, p := range pods.Items {
			fmt.Printf("  Pod/%s  %s on %s, IP %s (a KWOK Pod: no container really runs)\n", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
		}
	}
	fmt.Println()
	return nil
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
