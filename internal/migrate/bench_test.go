package migrate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/migrate"
	"github.com/flotilla-dev/flotilla/internal/offline"
)

// benchInput is n Ingresses on one Gateway, one host each, a mix of what teams have: every
// fourth with TLS (a ListenerSet listener), every fifth with a capture-group rewrite (regex
// mode), every third with a character prefix, every seventh with a weighted canary, every
// eleventh with an allow list and a rate limit.
func benchInput(n int) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: flotilla
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: https, port: 443, protocol: HTTPS, allowedRoutes: {namespaces: {from: All}}, tls: {certificateRefs: [{name: default-cert}]}}
---
apiVersion: gateway.flotilla.dev/v1alpha1
kind: IngressClassConfig
metadata: {name: nginx}
spec: {gatewayRef: {namespace: infra, name: gw}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec:
  controller: gateway.flotilla.dev/ingress
  parameters: {apiGroup: gateway.flotilla.dev, kind: IngressClassConfig, name: nginx, scope: Cluster}
---
apiVersion: v1
kind: Secret
metadata: {name: default-cert, namespace: infra}
type: kubernetes.io/tls
stringData: {tls.crt: "@tls.crt", tls.key: "@tls.key"}
`)
	for i := range n {
		ns := fmt.Sprintf("team-%d", i%50)
		host := fmt.Sprintf("app-%d.example.com", i)
		var ann []string
		pathType, path := "Prefix", "/api"
		if i%5 == 0 {
			ann = append(ann, `nginx.ingress.kubernetes.io/rewrite-target: /$2`)
			pathType, path = "ImplementationSpecific", "/api(/|$)(.*)"
		} else if i%3 == 0 {
			pathType = "ImplementationSpecific"
		}
		if i%11 == 0 {
			ann = append(ann, `nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8`, `nginx.ingress.kubernetes.io/limit-rps: "20"`)
		}
		tls := ""
		if i%4 == 0 {
			tls = fmt.Sprintf("\n  tls: [{hosts: [%s], secretName: tls-%d}]", host, i)
			fmt.Fprintf(&b, `---
apiVersion: v1
kind: Secret
metadata: {name: tls-%d, namespace: %s}
type: kubernetes.io/tls
stringData: {tls.crt: "@tls.crt", tls.key: "@tls.key"}
`, i, ns)
		}
		fmt.Fprintf(&b, `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-%d
  namespace: %s
  creationTimestamp: "2026-01-01T00:00:%02dZ"
  annotations: {%s}
spec:
  ingressClassName: nginx%s
  rules:
  - host: %s
    http:
      paths:
      - {path: %q, pathType: %s, backend: {service: {name: api-%d, port: {number: 8080}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web-%d, port: {number: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {name: api-%d, namespace: %s}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-%d, namespace: %s}
spec: {ports: [{name: http, port: 8080}]}
`, i, ns, i%60, strings.Join(ann, ", "), tls, host, path, pathType, i, i, i, ns, i, ns)
		if i%7 == 0 {
			fmt.Fprintf(&b, `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-%d-canary
  namespace: %s
  creationTimestamp: "2026-01-02T00:00:00Z"
  annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "10"}
spec:
  ingressClassName: nginx
  rules:
  - host: %s
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web-%d-canary, port: {number: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web-%d-canary, namespace: %s}
spec: {ports: [{name: http, port: 8080}]}
`, i, ns, host, i, i, ns)
		}
	}
	return []byte(b.String())
}

func benchSet(b *testing.B, n int) *offline.Set {
	set, err := offline.Load([]offline.Source{{Name: "bench.yaml", Dir: "testdata", Data: benchInput(n)}})
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkMigrate: printing n Ingresses (the input already read).
func BenchmarkMigrate(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			set := benchSet(b, n)
			b.ReportAllocs()
			for b.Loop() {
				res, err := migrate.Migrate(set, migrate.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if res.Report.Summary.Migrated < n {
					b.Fatalf("%d migrated, want %d or more", res.Report.Summary.Migrated, n)
				}
			}
		})
	}
}

// BenchmarkVerify: --verify for n Ingresses: both translations and the corpus's decisions.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			res, err := migrate.Migrate(benchSet(b, n), migrate.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var requests int
			for b.Loop() {
				v, err := migrate.Verify(res)
				if err != nil {
					b.Fatal(err)
				}
				if v.Different > 0 {
					b.Fatalf("%d differences, e.g. %+v", v.Different, v.Differences[0])
				}
				requests = v.Requests
			}
			b.ReportMetric(float64(requests), "requests/op")
		})
	}
}

// BenchmarkIngressFleet: resolving and translating the Gateway that serves n Ingresses (a
// quarter of them with a TLS host of their own), as the controller does on every change.
func BenchmarkIngressFleet(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			set := benchSet(b, n)
			gws, _, err := set.Gateways("")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := set.Translate(gws[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
