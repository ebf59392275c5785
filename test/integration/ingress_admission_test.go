package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const nginxPrefix = "nginx.ingress.kubernetes.io/"

// admissionCase is one annotation value and what the policy must do with it: allow it, or refuse
// it with a message that names the annotation and contains reason.
type admissionCase struct {
	annotations map[string]string // keys without nginxPrefix unless they contain a '/'
	refused     bool
	reason      string
}

// ok and bad build cases for one annotation and several values.
func ok(name string, values ...string) []admissionCase {
	var cs []admissionCase
	for _, v := range values {
		cs = append(cs, admissionCase{annotations: map[string]string{name: v}})
	}
	return cs
}

func bad(name, reason string, values ...string) []admissionCase {
	var cs []admissionCase
	for _, v := range values {
		cs = append(cs, admissionCase{annotations: map[string]string{name: v}, refused: true, reason: reason})
	}
	return cs
}

// admissionCases: for every rule of config/admission, values that pass and values that must not.
func admissionCases() []admissionCase {
	var cs []admissionCase
	add := func(more ...[]admissionCase) {
		for _, m := range more {
			cs = append(cs, m...)
		}
	}
	const never, oneOf, integer = "snippet annotations are never allowed", "must be one of", "must be an integer"
	for _, s := range []string{"configuration-snippet", "server-snippet", "auth-snippet", "stream-snippet", "modsecurity-snippet"} {
		add(bad(s, never, "", "more_set_headers 'X-Team: a';", "false"))
	}
	for _, b := range []string{"use-regex", "ssl-redirect", "force-ssl-redirect", "enable-cors", "cors-allow-credentials", "canary", "ssl-passthrough", "service-upstream"} {
		add(ok(b, "true", "false"), bad(b, oneOf+` "true", "false"`, "True", "yes", "1", "", "true "))
	}
	add(ok("x-forwarded-prefix", "/api", "yes")) // a string, not a boolean
	add(ok("proxy-ssl-verify", "on", "off"), bad("proxy-ssl-verify", oneOf+` "on", "off"`, "true", "ON", ""))
	add(ok("backend-protocol", "HTTP", "HTTPS", "GRPC", "GRPCS", "grpc", "GrPcS", "https"),
		bad("backend-protocol", "must be one of HTTP, HTTPS, GRPC, GRPCS", "AUTO_HTTP", "FCGI", "H2C", "HTTP ", "HTTPSX", ""))
	for _, s := range []string{"proxy-connect-timeout", "proxy-read-timeout", "proxy-send-timeout"} {
		add(ok(s, "0", "5", "86400"), bad(s, integer+" from 0 to 86400", "86401", "-1", "5s", " 5", "1.5", "", "99999999999999999999"))
	}
	for _, s := range []string{"session-cookie-max-age", "session-cookie-expires"} {
		add(ok(s, "0", "172800", "31536000"), bad(s, integer+" from 0 to 31536000", "31536001", "1d", "-5"))
	}
	for _, s := range []string{"permanent-redirect-code", "temporal-redirect-code"} {
		add(ok(s, "300", "301", "308"), bad(s, integer+" from 300 to 308", "299", "309", "301 ", "3o1"))
	}
	add(ok("canary-weight", "0", "50", "100"), bad("canary-weight", integer+" from 0 to 100", "101", "-1", "50%"))
	add(ok("canary-weight-total", "1", "1000", "1000000"),
		bad("canary-weight-total", integer+" from 1 to 1000000", "0", "1000001", "1e3"))
	cs = append(cs,
		admissionCase{annotations: map[string]string{"canary-weight-total": "1000", "canary-weight": "1000"}},
		admissionCase{annotations: map[string]string{"canary-weight-total": "1000", "canary-weight": "1001"},
			refused: true, reason: integer + " from 0 to 1000"},
		admissionCase{annotations: map[string]string{"canary-weight-total": "10", "canary-weight": "11"},
			refused: true, reason: integer + " from 0 to 10"})
	add(ok("proxy-ssl-verify-depth", "1", "10"), bad("proxy-ssl-verify-depth", integer+" from 1 to 10", "0", "11"))
	add(ok("load-balance", "round_robin", "ewma"), bad("load-balance", oneOf, "least_conn", "EWMA"))
	add(ok("affinity", "cookie"), bad("affinity", oneOf+` "cookie"`, "ip", "Cookie"))
	add(ok("affinity-mode", "balanced", "persistent"), bad("affinity-mode", oneOf, "sticky", "affinity-mode")) // a row's name is no value
	add(ok("session-cookie-samesite", "None", "Lax", "Strict", "lax", "none"), bad("session-cookie-samesite", "None, Lax or Strict", "Strict ", "loose"))
	add(ok("upstream-hash-by", "$request_uri", "$remote_addr", "$binary_remote_addr", "$host",
		"$http_x_user-id", "$cookie_SESSION", "$arg_id"),
		bad("upstream-hash-by", "a single nginx variable", "$request_uri$host", "$host $request_uri",
			"$http_", "request_uri", "$scheme", "$remote_addr ", "${host}", "$http_x.y", ""))
	for _, s := range []string{"whitelist-source-range", "allowlist-source-range", "denylist-source-range", "limit-whitelist"} {
		add(ok(s, "10.0.0.0/8", "192.168.1.7", "10.0.0.0/8, 192.168.1.7 ,2001:db8::/32", "::1", "10.1.2.3/8"),
			bad(s, "comma-separated list of CIDRs or IP addresses", "10.0.0.0/33", "10.0.0.0/8,", "example.com",
				"10.0.0.0/8;192.168.0.0/16", "", "::ffff:10.0.0.1", "fe80::1%eth0", "10.0.0.0/8 10.1.0.0/16"))
	}
	for _, s := range []string{"permanent-redirect", "temporal-redirect", "auth-url", "auth-signin"} {
		add(ok(s, "https://example.com/new", "http://auth.example.com:8080/oauth2/auth?rd=$escaped_request_uri", "HTTPS://example.com"),
			bad(s, "must be an absolute http:// or https:// URL", "/relative", "ftp://example.com/x", "https://",
				"https://exa mple.com/", "example.com/x", "https://example.com/\tx", "javascript:alert(1)", ""))
	}
	add(ok("proxy-body-size", "8m", "0", "1024", "10G", "512k", "1b"),
		bad("proxy-body-size", "must be a size", "8mb", "1.5m", "-1", "m", "8 m", ""))
	for _, s := range []string{"limit-rps", "limit-rpm", "limit-connections"} {
		add(ok(s, "0", "100"), bad(s, integer+" >= 0", "-1", "1.5", "ten", ""))
	}
	add(ok("limit-burst-multiplier", "1", "5"), bad("limit-burst-multiplier", integer+" >= 1", "0", "-2"))
	const ctl = "must not contain CR, LF or NUL"
	for _, v := range []string{"a\nb", "a\rb", "a\x00b", "\n"} {
		add(bad("x-forwarded-prefix", ctl, "/api"+v), bad("unknown-future-annotation", ctl, v))
	}
	// Outside the prefix nothing is checked: not Flotilla's business.
	cs = append(cs,
		admissionCase{annotations: map[string]string{"example.com/use-regex": "maybe", "example.com/note": "a\nb",
			"configuration-snippet.example.com/x": "y"}},
		admissionCase{annotations: map[string]string{"unknown-future-annotation": "anything"}})
	return cs
}

func ingressWith(ns, name string, annotations map[string]string) *networkingv1.Ingress {
	full := map[string]string{}
	for k, v := range annotations {
		if !strings.Contains(k, "/") {
			k = nginxPrefix + k
		}
		full[k] = v
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: full},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
}

// The ValidatingAdmissionPolicy of config/admission, loaded from its kustomize output into the real
// API server, refuses the annotation values the Ingress controller would refuse, with a message
// naming the annotation, and lets everything else through.
func TestIngressAdmissionPolicy(t *testing.T) {
	ctx := context.Background()
	objs := decodeManifests(t, kustomizeBuild(t, "config/admission"))
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	slices.Sort(kinds)
	if want := []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}; !slices.Equal(kinds, want) {
		t.Fatalf("config/admission holds %v, want %v", kinds, want)
	}
	ns := "ingress-admission"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	snippet := ingressWith(ns, "probe", map[string]string{"server-snippet": "x"})
	// An Ingress stored before the policy, with a value it refuses and a finalizer.
	legacy := ingressWith(ns, "legacy", map[string]string{"server-snippet": "x"})
	legacy.Finalizers = []string{"example.com/hold"}
	if err := k8s.Create(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs last, once the policy is gone: a failed run leaves no finalizer behind
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), cur); err == nil && len(cur.Finalizers) > 0 {
			cur.Finalizers = nil
			_ = k8s.Update(ctx, cur)
		}
	})
	for _, o := range objs {
		if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("admission-test"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	// The policy applies to every Ingress of the cluster: remove it, and wait until the API server
	// has, so later tests see no policy.
	t.Cleanup(func() {
		for _, o := range objs {
			if err := k8s.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", o.GetName(), err)
			}
		}
		eventually(t, time.Minute, func(ctx context.Context) error {
			return k8s.Create(ctx, snippet.DeepCopy(), client.DryRunAll)
		})
	})
	// The API server compiles policies asynchronously: wait until a known-bad Ingress is refused.
	eventually(t, time.Minute, func(ctx context.Context) error {
		err := k8s.Create(ctx, snippet.DeepCopy(), client.DryRunAll)
		if err == nil {
			return errors.New("an Ingress with server-snippet was accepted: the policy is not active yet")
		}
		if !strings.Contains(err.Error(), nginxPrefix+"server-snippet") {
			return fmt.Errorf("refused, but not by the policy: %w", err)
		}
		return nil
	})
	// The controller manager type-checks the policy against the Ingress schema and reports
	// warnings in its status.
	policy := objs[slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ValidatingAdmissionPolicy" })].DeepCopy()
	eventually(t, time.Minute, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
			return err
		}
		if observed, _, _ := unstructured.NestedInt64(policy.Object, "status", "observedGeneration"); observed != policy.GetGeneration() {
			return fmt.Errorf("policy status observed generation %d, want %d", observed, policy.GetGeneration())
		}
		return nil
	})
	if warnings, _, _ := unstructured.NestedSlice(policy.Object, "status", "typeChecking", "expressionWarnings"); len(warnings) > 0 {
		t.Errorf("the type check warns about the policy's expressions: %v", warnings)
	}

	t.Run("annotation values", func(t *testing.T) {
		// Some 400 dry-run creates: past client-go's default 5 requests per second.
		cfg := rest.CopyConfig(env.Config)
		cfg.QPS, cfg.Burst = 200, 400
		fast, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		for i, tc := range admissionCases() {
			ing := ingressWith(ns, fmt.Sprintf("case-%d", i), tc.annotations)
			err := fast.Create(ctx, ing, client.DryRunAll)
			desc := fmt.Sprintf("%q", ing.Annotations)
			switch {
			case !tc.refused && err != nil:
				t.Errorf("%s: refused, want accepted: %v", desc, err)
			case tc.refused && err == nil:
				t.Errorf("%s: accepted, want refused (%s)", desc, tc.reason)
			case tc.refused:
				if !apierrors.IsInvalid(err) {
					t.Errorf("%s: refused with %v, want reason Invalid", desc, err)
				}
				// The message names each bad annotation (the one of the case that has the reason).
				named := false
				for k := range ing.Annotations {
					named = named || strings.Contains(err.Error(), k+":") || strings.Contains(err.Error(), k+",")
				}
				if !named || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s: message %q, want one naming the annotation and saying %q", desc, err.Error(), tc.reason)
				}
			}
		}
	})

	t.Run("several bad annotations are all named", func(t *testing.T) {
		err := k8s.Create(ctx, ingressWith(ns, "several", map[string]string{
			"use-regex": "yes", "ssl-redirect": "no", "proxy-read-timeout": "60s", "server-snippet": "x",
			"auth-url": "/auth", "denylist-source-range": "10.0.0.0/8,x"}), client.DryRunAll)
		if err == nil {
			t.Fatal("accepted")
		}
		t.Logf("refusal: %v", err)
		// All of them, in the policy's table order (deterministic), whatever the map order.
		last := -1
		for _, want := range []string{"server-snippet: snippet annotations are never allowed",
			"use-regex: must be one of", "ssl-redirect: must be one of", "proxy-read-timeout: must be an integer",
			"denylist-source-range: must be a comma-separated", "auth-url: must be an absolute"} {
			i := strings.Index(err.Error(), nginxPrefix+want)
			if i < 0 || i < last {
				t.Errorf("message %q lacks %q or has it out of order", err.Error(), want)
			}
			last = i
		}
		// Past 10 problems the message says how many more, and stays short.
		many := map[string]string{}
		for i := range 25 {
			many[fmt.Sprintf("future-%02d", i)] = "a\nb"
		}
		err = k8s.Create(ctx, ingressWith(ns, "many-problems", many), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "; and 15 more") || len(err.Error()) > 2048 {
			t.Errorf("want a refusal listing 10 problems and 15 more, got %v", err)
		}
	})

	t.Run("an Ingress without the prefix is accepted", func(t *testing.T) {
		ing := ingressWith(ns, "plain", map[string]string{"example.com/owner": "team-a"})
		if err := k8s.Create(ctx, ing); err != nil {
			t.Fatalf("refused: %v", err)
		}
		bare := ingressWith(ns, "bare", nil)
		if err := k8s.Create(ctx, bare); err != nil {
			t.Fatalf("an Ingress without annotations was refused: %v", err)
		}
	})

	t.Run("a bad edit of a working Ingress is refused and changes nothing", func(t *testing.T) {
		good := ingressWith(ns, "working", map[string]string{"ssl-redirect": "false", "proxy-read-timeout": "120",
			"upstream-hash-by": "$request_uri", "whitelist-source-range": "10.0.0.0/8"})
		if err := k8s.Create(ctx, good); err != nil {
			t.Fatalf("the good Ingress was refused: %v", err)
		}
		before := good.DeepCopy()
		edit := good.DeepCopy()
		edit.Annotations[nginxPrefix+"configuration-snippet"] = "proxy_set_header X-Evil 1;"
		edit.Annotations[nginxPrefix+"proxy-read-timeout"] = "600"
		err := k8s.Update(ctx, edit)
		if err == nil {
			t.Fatal("the update adding configuration-snippet was accepted")
		}
		if !strings.Contains(err.Error(), nginxPrefix+"configuration-snippet") {
			t.Errorf("message %q does not name configuration-snippet", err.Error())
		}
		stored := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), stored); err != nil {
			t.Fatal(err)
		}
		if stored.ResourceVersion != before.ResourceVersion || !maps.Equal(stored.Annotations, before.Annotations) {
			t.Errorf("the stored Ingress changed: %v (rv %s), want %v (rv %s)",
				stored.Annotations, stored.ResourceVersion, before.Annotations, before.ResourceVersion)
		}
		// A valid edit still goes through.
		stored.Annotations[nginxPrefix+"proxy-read-timeout"] = "600"
		if err := k8s.Update(ctx, stored); err != nil {
			t.Errorf("a valid edit was refused: %v", err)
		}
	})

	t.Run("an Ingress stored before the policy", func(t *testing.T) {
		// Its next update is refused until the value is fixed...
		edit := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), edit); err != nil {
			t.Fatal(err)
		}
		edit.Labels = map[string]string{"team": "a"}
		if err := k8s.Update(ctx, edit); err == nil || !strings.Contains(err.Error(), nginxPrefix+"server-snippet") {
			t.Errorf("an update keeping server-snippet: want a refusal naming it, got %v", err)
		}
		// ...but once it is being deleted, its finalizers can always be removed.
		if err := k8s.Delete(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func(ctx context.Context) error {
			cur := &networkingv1.Ingress{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), cur); err != nil {
				return client.IgnoreNotFound(err)
			}
			cur.Finalizers = nil
			if err := k8s.Update(ctx, cur); err != nil {
				return fmt.Errorf("removing the finalizer of an Ingress being deleted: %w", err)
			}
			return errors.New("still there")
		})
	})

	t.Run("cost stays within the API server's limits", func(t *testing.T) {
		// Every checked annotation with a valid value at once, a 7,000-entry source range, and
		// 120 other prefixed annotations of 1 KiB: close to the API server's 256 KiB limit on
		// annotations, so no valid Ingress can cost more.
		all := map[string]string{}
		for _, tc := range admissionCases() {
			if !tc.refused {
				maps.Copy(all, tc.annotations)
			}
		}
		var cidrs []string
		for i := range 7000 {
			cidrs = append(cidrs, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
		}
		all["denylist-source-range"] = strings.Join(cidrs, ", ")
		for i := range 120 {
			all[fmt.Sprintf("future-annotation-%03d", i)] = strings.Repeat("v", 1024)
		}
		ing := ingressWith(ns, "many", all)
		size := 0
		for k, v := range ing.Annotations {
			size += len(k) + len(v)
		}
		if size < 200*1024 || size > 256*1024 {
			t.Fatalf("the annotations total %d bytes, want 200..256 KiB", size)
		}
		if err := k8s.Create(ctx, ing, client.DryRunAll); err != nil {
			t.Fatalf("an Ingress with %d valid annotations was refused: %v", len(all), err)
		}
		// The same with one bad value among them is still refused for that value, not for cost.
		ing = ingressWith(ns, "many-bad", all)
		ing.Annotations[nginxPrefix+"future-annotation-119"] += "\n"
		err := k8s.Create(ctx, ing, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), nginxPrefix+"future-annotation-119: the value must not contain") {
			t.Fatalf("want a refusal naming future-annotation-119, got %v", err)
		}
	})
}
