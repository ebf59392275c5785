// Package provisioner computes, without API calls, what an Envoy fleet should be: the effective
// parameters of a Gateway (defaults, FleetClass, FleetConfig, tenancy bounds) and its desired objects.
//
// Everything here is a pure function of its inputs, so golden files (testdata/<case>.in.yaml →
// <case>.out.yaml, refreshed with `go test ./internal/provisioner/ -update`) show exactly what the
// controller applies. The controller adds the owner reference and applies the objects with
// server-side apply; every object therefore carries its TypeMeta.
//
// Decisions worth knowing before changing anything here:
//
//   - Names. Every object of a fleet is named FleetName(gw): "flotilla-<gateway-name>", a valid
//     DNS-1035 label (the Service needs one). Dots become dashes; when that rewrote the name or it
//     would exceed 63 characters, the name is cut and ends in an 8-hex-digit hash of the Gateway name.
//   - Ports. Envoy binds each listener on the listener's own port: ContainerPort is the identity.
//     Envoy runs as UID 65532 without NET_BIND_SERVICE; ports below 1024 are bindable because the
//     Pod sets the namespaced sysctl net.ipv4.ip_unprivileged_port_start=0, which Pod Security
//     "restricted" allows (it is in the baseline safe set since Kubernetes 1.22). This avoids the
//     port+10000 remapping, whose ranges collide (80→10080 versus a listener on 10080). Ports
//     19000–19002 (admin, health, stats) are reserved: IsReservedPort lets the resolver refuse
//     listeners on them, and the Service never exposes them.
//   - Addresses. A Gateway may name its own addresses (spec.addresses) only when its FleetClass
//     sets spec.service.staticAddresses: the CIDRs they must lie in and the carrier (spec.clusterIP,
//     spec.externalIPs, spec.loadBalancerIP or an annotation the load balancer reads). Without it
//     no requested IP reaches the Service — a team must not be able to claim an externalIP
//     (CVE-2020-8554). GatewayAddresses checks every entry: other types than IPAddress and
//     Hostname are UnsupportedAddress; an entry without a value (any address) always passes; a
//     Hostname with a value, an IP outside the CIDRs, over maxAddresses or on a Service type the
//     carrier does not work with are AddressNotUsable problems, each naming its entry.
//   - Bootstrap. node.id comes from `--service-node $(POD_NAME)`, node.cluster is the fleet key;
//     ADS goes to the static cluster xds_cluster over HTTP/2 and mTLS 1.3, checking that the server
//     certificate names Defaults.XDSAddress. Certificates are read by file-based SDS from SDSDir,
//     a projected volume of the fleet Secret (tls.crt, tls.key, ca.crt: what internal/pki and
//     cert-manager both write) and the two SDS files, which the fleet ConfigMap carries next to the
//     bootstrap. Admin listens on 127.0.0.1 only; /ready is served on HealthPort, and
//     /stats/prometheus on StatsPort when Prometheus is enabled.
package provisioner
