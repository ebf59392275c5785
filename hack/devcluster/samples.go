package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/flotilla-dev/flotilla/hack/manifests"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

// applySamples server-side applies the files a kustomization.yaml lists, in its order, and returns
// the objects applied.
func applySamples(ctx context.Context, c *cluster.Cluster, dir string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("reading %s/kustomization.yaml: %w", dir, err)
	}
	var applied []*unstructured.Unstructured
	for _, f := range k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		objs, err := manifests.DecodeAll(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", f, err)
		}
		for _, u := range objs {
			if err := c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flotilla-demo"), client.ForceOwnership); err != nil {
				return nil, fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
			}
			fmt.Printf("applied %s/%s %s\n", strings.ToLower(u.GetKind()), u.GetName(), nsNote(u))
			applied = append(applied, u)
		}
	}
	fmt.Println()
	return applied, nil
}

func nsNote(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return ""
	}
	return "(namespace " + u.GetNamespace() + ")"
}

// reportedKinds are the kinds whose status Flotilla writes today; the demo waits for each.
var reportedKinds = map[string]bool{"GatewayClass": true, "FleetClass": true, "FleetConfig": true, "Gateway": true}

// routeKinds are reported through their status.parents.
var routeKinds = map[string]bool{"HTTPRoute": true, "GRPCRoute": true, "TLSRoute": true, "TCPRoute": true, "UDPRoute": true}

// report waits until Flotilla has written status for the applied objects and prints it.
func report(ctx context.Context, c *cluster.Cluster, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(o.GroupVersionKind())
		key := client.ObjectKeyFromObject(o)
		if reportedKinds[o.GetKind()] {
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				if err := c.Client.Get(ctx, key, cur); err != nil {
					return false, nil //nolint:nilerr // keep polling
				}
				return observed(cur) && (cur.GetKind() != "Gateway" || programmed(cur)), nil
			})
			if err != nil {
				fmt.Printf("(%s %s did not settle within 30s; this is where it stands)\n", o.GetKind(), key)
			}
		} else if routeKinds[o.GetKind()] {
			_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				if err := c.Client.Get(ctx, key, cur); err != nil {
					return false, nil //nolint:nilerr // keep polling
				}
				parents, _, _ := unstructured.NestedSlice(cur.Object, "status", "parents")
				return len(parents) > 0, nil
			})
		} else if o.GetKind() == "IngressClass" || o.GetKind() == "IngressClassConfig" {
			continue // an admin's configuration: Flotilla writes no status on it
		} else if o.GroupVersionKind().Group == "" || o.GroupVersionKind().Group == "apps" {
			continue // core objects (the team namespace, the sample backends) have nothing of Flotilla's to show
		} else if err := c.Client.Get(ctx, key, cur); err != nil {
			return err
		}
		printStatus(cur)
	}
	return nil
}

// programmed says whether a Gateway is Programmed.
func programmed(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Programmed" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// observed says whether an Accepted condition exists for the object's current generation.
func observed(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		gen, _ := m["observedGeneration"].(int64)
		if m["type"] == "Accepted" && m["reason"] != "Pending" && gen == u.GetGeneration() {
			return true
		}
	}
	return false
}

func printStatus(u *unstructured.Unstructured) {
	name := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	fmt.Printf("%s %s\n", u.GetKind(), name)
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	parents, _, _ := unstructured.NestedSlice(u.Object, "status", "parents")
	if u.GetKind() == "Ingress" {
		// An Ingress has no conditions: its status is the Gateway's address (Warning Events say
		// what is refused).
		lb, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
		if len(lb) == 0 {
			fmt.Println("  loadBalancer: none yet (the Gateway has no address, or the Ingress is refused: see its Events)")
		}
		for _, e := range lb {
			m, _ := e.(map[string]any)
			fmt.Printf("  loadBalancer: %v%v\n", orEmpty(m["ip"]), orEmpty(m["hostname"]))
		}
		return
	}
	if len(conds) == 0 && len(parents) == 0 && !reportedKinds[u.GetKind()] {
		fmt.Println("  (no status from Flotilla yet)")
	}
	for _, c := range conds {
		m, _ := c.(map[string]any)
		fmt.Printf("  %-17s %-5v %-20v %v\n", fmt.Sprint(m["type"]), m["status"], m["reason"], m["message"])
	}
	for _, p := range parents {
		m, _ := p.(map[string]any)
		ref, _ := m["parentRef"].(map[string]any)
		fmt.Printf("  parent %v (%v):\n", ref["name"], m["controllerName"])
		pc, _ := m["conditions"].([]any)
		for _, c := range pc {
			cm, _ := c.(map[string]any)
			fmt.Printf("    %-15s %-5v %-20v %v\n", fmt.Sprint(cm["type"]), cm["status"], cm["reason"], cm["message"])
		}
	}
	if u.GetKind() == "GatewayClass" {
		fs, _, _ := unstructured.NestedSlice(u.Object, "status", "supportedFeatures")
		var names []string
		for _, f := range fs {
			m, _ := f.(map[string]any)
			names = append(names, fmt.Sprint(m["name"]))
		}
		if len(names) == 0 {
			names = []string{"(none yet: features are listed as they are implemented)"}
		}
		fmt.Printf("  supportedFeatures: %s\n", strings.Join(names, ", "))
		fmt.Printf("  finalizers: %v\n", u.GetFinalizers())
	}
	fmt.Println()
}

func orEmpty(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
