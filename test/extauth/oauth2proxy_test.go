// Package extauth checks Flotilla's external authorization against the real thing: oauth2-proxy
// (built by hack/cluster-bins.sh) with a mock OIDC provider, sent exactly the check request the
// ext_authz configuration Flotilla generates for an Ingress's auth-url makes Envoy send.
package extauth

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	customresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	localresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/local_response_policy/v3"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/flotilla-dev/flotilla/internal/offline"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// The Ingress of ingress-nginx's oauth2-proxy guide: auth-url to the oauth2-proxy Service,
// auth-signin to its start URL with rd, and the identity headers forwarded to the app.
const ingressYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra, generation: 1}
spec:
  gatewayClassName: flotilla
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.flotilla.dev/v1alpha1
kind: IngressClassConfig
metadata: {name: nginx}
spec:
  gatewayRef: {namespace: infra, name: gw}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec:
  controller: gateway.flotilla.dev/ingress
  parameters: {apiGroup: gateway.flotilla.dev, kind: IngressClassConfig, name: nginx, scope: Cluster}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: apps
  annotations:
    nginx.ingress.kubernetes.io/auth-url: http://oauth2-proxy.apps.svc.cluster.local:4180/oauth2/auth
    nginx.ingress.kubernetes.io/auth-signin: https://app.example.com/oauth2/start?rd=$escaped_request_uri
    nginx.ingress.kubernetes.io/auth-response-headers: X-Auth-Request-User, X-Auth-Request-Email
spec:
  ingressClassName: nginx
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: oauth2-proxy, namespace: apps}
spec: {ports: [{port: 4180}]}
`

// authzConfig is what Flotilla configures for the Ingress's route: the ext_authz check settings
// and the sign-in Location of its custom_response.
func authzConfig(t *testing.T) (*extauthzv3.HttpService, string) {
	t.Helper()
	set, err := offline.Load([]offline.Source{{Name: "ingress.yaml", Dir: t.TempDir(), Data: []byte(ingressYAML)}})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, err := set.Gateways("")
	if err != nil {
		t.Fatal(err)
	}
	f, err := offline.Run(set.Input(gws[0]), set.Docs.SecretData)
	if err != nil {
		t.Fatal(err)
	}
	var rt *routev3.Route
	for _, rc := range f.Resources.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if r.GetName() == "Ingress/apps/app/rule/0/match/0" {
					rt = r
				}
			}
		}
	}
	if rt == nil {
		t.Fatalf("no route for the Ingress (warnings %v)", f.Resources.Warnings)
	}
	per := &extauthzv3.ExtAuthzPerRoute{}
	if err := rt.GetTypedPerFilterConfig()[translate.NameExtAuthz].UnmarshalTo(per); err != nil {
		t.Fatalf("the route has no ext_authz configuration: %v", err)
	}
	hs := per.GetCheckSettings().GetHttpService()
	if hs == nil || hs.GetServerUri().GetCluster() != "apps/oauth2-proxy/4180/http" {
		t.Fatalf("ext_authz check settings %v", per)
	}
	cr := &customresponsev3.CustomResponse{}
	if err := rt.GetTypedPerFilterConfig()[translate.NameCustomResponse].UnmarshalTo(cr); err != nil {
		t.Fatalf("the route has no custom_response (sign-in): %v", err)
	}
	var location string
	for _, m := range cr.GetCustomResponseMatcher().GetMatcherList().GetMatchers() {
		if a := m.GetOnMatch().GetAction(); a.GetName() == "sign-in" {
			lr := &localresponsev3.LocalResponsePolicy{}
			if err := a.GetTypedConfig().UnmarshalTo(lr); err != nil {
				t.Fatal(err)
			}
			if lr.GetStatusCode().GetValue() != 302 {
				t.Fatalf("the sign-in answers %d, want 302", lr.GetStatusCode().GetValue())
			}
			for _, h := range lr.GetResponseHeadersToAdd() {
				if h.GetHeader().GetKey() == "location" {
					location = h.GetHeader().GetValue()
				}
			}
		}
	}
	if location == "" {
		t.Fatal("no sign-in redirect")
	}
	return hs, location
}

// checkRequest is the request Envoy's HTTP ext_authz client sends for a client request: the
// client's method, the path override (else path prefix + path), the client's Host, and of its
// headers those allowed_headers match plus the ones Envoy always includes (Authorization), with
// an empty body.
func checkRequest(t *testing.T, hs *extauthzv3.HttpService, base string, client *http.Request) *http.Request {
	t.Helper()
	path := hs.GetPathPrefix() + client.URL.Path
	if hs.GetPathOverride() != "" {
		path = hs.GetPathOverride()
	}
	req, err := http.NewRequest(client.Method, base+path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = client.Host
	allowed := map[string]bool{"authorization": true}
	for _, p := range hs.GetAuthorizationRequest().GetAllowedHeaders().GetPatterns() {
		if p.GetExact() == "" || !p.GetIgnoreCase() {
			t.Fatalf("allowed header pattern %v: this test sends exact, case-insensitive names only", p)
		}
		allowed[strings.ToLower(p.GetExact())] = true
	}
	for name, vs := range client.Header {
		if allowed[strings.ToLower(name)] {
			req.Header[name] = vs
		}
	}
	req.Header.Set("Content-Length", "0")
	return req
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startOAuth2Proxy runs oauth2-proxy against the mock provider, its identity headers on
// (--set-xauthrequest, as ingress-nginx's guide configures it).
func startOAuth2Proxy(t *testing.T, m *mockoidc.MockOIDC) string {
	t.Helper()
	bin, err := cluster.OAuth2ProxyBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	base := "http://" + addr
	cmd := exec.Command(bin,
		"--provider=oidc", "--oidc-issuer-url="+m.Issuer(), "--client-id="+m.ClientID, "--client-secret="+m.ClientSecret,
		"--cookie-secret=0123456789abcdef0123456789abcdef", "--cookie-secure=false", "--email-domain=*",
		"--http-address="+addr, "--redirect-url="+base+"/oauth2/callback", "--upstream=static://202",
		"--set-xauthrequest=true", "--skip-provider-button=true", "--reverse-proxy=true")
	logs, err := os.Create(filepath.Join(t.TempDir(), "oauth2-proxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("oauth2-proxy's log:\n%s", b)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("oauth2-proxy did not answer /ping: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Without a session oauth2-proxy answers Flotilla's check request 401, which the route's
// custom_response turns into the sign-in redirect (to oauth2-proxy's /oauth2/start with rd);
// after signing in there (mock OIDC provider), the same check with the session cookie answers
// 202 with every header auth-response-headers forwards to the app.
func TestOAuth2ProxyFlow(t *testing.T) {
	hs, location := authzConfig(t)
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	base := startOAuth2Proxy(t, m)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	// The client's request as Envoy forwards it to ext_authz (use_remote_address adds the
	// X-Forwarded-* headers and a request id).
	clientRequest := func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://app.example.com/dashboard", nil)
		r.Header.Set("X-Forwarded-For", "192.0.2.10")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Request-Id", "4b1a2c3d")
		r.Header.Set("User-Agent", "browser")
		for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(base, "http://")}) {
			r.AddCookie(c)
		}
		return r
	}
	check := func() *http.Response {
		t.Helper()
		resp, err := http.DefaultClient.Do(checkRequest(t, hs, base, clientRequest()))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	if resp := check(); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("check without a session: %d, want 401", resp.StatusCode)
	}

	// The sign-in redirect Flotilla configures: https://<host>/oauth2/start?rd=<the request's path>
	// (%REQ(:path)% is Envoy's substitution).
	signIn := strings.ReplaceAll(location, "%REQ(:path)%", "/dashboard")
	u, err := url.Parse(signIn)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "app.example.com" || u.Path != "/oauth2/start" || u.Query().Get("rd") != "/dashboard" {
		t.Fatalf("sign-in Location %s, want https://app.example.com/oauth2/start?rd=/dashboard", signIn)
	}
	// The browser follows it to oauth2-proxy (which serves /oauth2 on the app's host in
	// ingress-nginx's guide), through the provider, back to rd.
	browser.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/dashboard" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := browser.Get(base + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard" {
		t.Fatalf("signing in ended with %d Location %q, want a 302 back to rd /dashboard", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp = check()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("check with a session: %d, want 202", resp.StatusCode)
	}
	want := hs.GetAuthorizationResponse().GetAllowedUpstreamHeaders().GetPatterns()
	if len(want) != 2 {
		t.Fatalf("allowed upstream headers %v, want the two of auth-response-headers", want)
	}
	for _, p := range want {
		if resp.Header.Get(p.GetExact()) == "" {
			t.Errorf("oauth2-proxy's 202 has no %s header for Envoy to forward (headers %v)", p.GetExact(), resp.Header)
		}
	}
	if got := resp.Header.Get("X-Auth-Request-Email"); got != mockoidc.DefaultUser().Email {
		t.Errorf("X-Auth-Request-Email %q, want %s", got, mockoidc.DefaultUser().Email)
	}
}
