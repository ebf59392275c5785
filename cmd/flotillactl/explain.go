package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/ingress"
	"github.com/flotilla-dev/flotilla/internal/offline"
	"github.com/flotilla-dev/flotilla/internal/xds/explain"
)

func newExplain(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var in inputFlags
	var request, output, client string
	var headers []string
	cmd := &cobra.Command{
		Use:   "explain -f FILE|DIR|- [--gateway NAMESPACE/NAME] --request 'METHOD URL' [-H 'Name: value']... [-o text|yaml|json]",
		Short: "Say which route a request takes through a Gateway's fleet, and why",
		Long: `explain translates the Gateway as translate does, then walks the generated xDS as Envoy would for
the request:

  1. the listener by port (the URL's, else 80 for http and 443 for https and tls);
  2. the filter chain by SNI (the URL's host for https and tls): an exact server name, else the
     longest wildcard, else the chain without server names;
  3. the route configuration of the chain's HTTP connection manager, after its path
     normalization (dot segments, merged slashes) and with the port stripped from :authority;
  4. the virtual host by :authority: an exact domain, else the longest suffix wildcard, else the
     longest prefix wildcard, else "*";
  5. the first route whose every match criterion the request meets (path, headers, method,
     query parameters): the routes tried before it say why they did not match.

It then prints the route's source (kind, namespace, name, rule and match index), the filters it
applies (header changes, rewrites, mirrors, CORS, timeouts, retries, and the protections of its
RouteFilters or Ingress annotations: error pages, access rules, basic authentication, external
authorization, rate limits, body size) and its action: the weighted
backends with their share of traffic and endpoints, a redirect and its Location, a direct
response, or the 404 and why. A Host header (-H 'Host: x') changes :authority but not the SNI.
With --client, access rules are evaluated (403 when the address is not allowed); basic
authentication checks -H 'Authorization: Basic ...' as Envoy does (401 without or with wrong
credentials).
For tls://, tcp:// and udp:// requests it explains the chain and the proxy's clusters.

--gateway may be left out when the input has a single Flotilla Gateway.`,
		Example: `  flotillactl explain -f config/samples --request 'GET http://app.example.com/api/v1?x=1'

  flotillactl explain -f gw.yaml -f routes/ --gateway infra/gw \
    --request 'POST https://shop.example.com/cart' -H 'x-version: v2' -o yaml

  flotillactl explain -f gw.yaml --gateway infra/gw --request 'tls://db.example.com:5432'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if request == "" {
				return errors.New("--request is required, e.g. --request 'GET https://app.example.com/'")
			}
			if output != "text" && output != offline.FormatYAML && output != offline.FormatJSON {
				return fmt.Errorf("-o %s: want text, yaml or json", output)
			}
			req, err := explain.ParseRequest(request, headers)
			if err != nil {
				return err
			}
			req.Client = client
			set, err := in.load(stdin, stderr)
			if err != nil {
				return err
			}
			gws, skipped, err := set.Gateways(in.gateway)
			if err != nil {
				return err
			}
			if len(gws) > 1 {
				return fmt.Errorf("the input has %d Flotilla Gateways: say which with --gateway", len(gws))
			}
			for _, s := range skipped {
				fmt.Fprintf(stderr, "note: %s\n", s)
			}
			f, err := set.Translate(gws[0])
			if err != nil {
				return err
			}
			d, err := explain.Explain(f.Resources, req)
			if err != nil {
				return fmt.Errorf("explaining: %w", err)
			}
			var clusters []string
			for _, b := range d.Action.Backends {
				clusters = append(clusters, b.Cluster)
			}
			d.Notes = append(d.Notes, set.ClusterNotes(f, clusters)...)
			d.Notes = append(d.Notes, statusNotes(f, d)...)
			d.Notes = append(d.Notes, ingressNotes(set, gws[0], f, d)...)
			return writeDecision(stdout, d, output)
		},
	}
	in.add(cmd)
	cmd.Flags().StringVar(&request, "request", "", `the request: "[METHOD] URL", e.g. 'GET https://app.example.com/api?x=1', 'tls://db.example.com:5432'`)
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, `a request header, "Name: value"; repeatable`)
	cmd.Flags().StringVar(&client, "client", "", "the client address Envoy derives (peer, or X-Forwarded-For past the trusted hops): access rules and rate-limit exemptions are evaluated with it")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, yaml or json")
	return cmd
}

func writeDecision(w io.Writer, d *explain.Decision, format string) error {
	switch format {
	case offline.FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case offline.FormatYAML:
		y, err := yaml.Marshal(d)
		if err != nil {
			return fmt.Errorf("rendering the decision: %w", err)
		}
		_, err = w.Write(y)
		return err
	}
	return d.Text(w)
}

// maxStatusNotes bounds the route problems a 404 lists.
const maxStatusNotes = 10

// statusNotes add what the routes' status says to a decision: the matched route's problems (a
// backend that does not exist, say), or, for a 404, every route's (one that is not attached).
func statusNotes(f *offline.Translation, d *explain.Decision) []string {
	switch {
	case d.Route != nil && d.Route.Source != nil:
		s := d.Route.Source
		return offline.RouteProblems(&f.Result, s.Kind, s.Namespace, s.Name)
	case d.Action.Type == explain.ActionNotFound:
		notes := offline.RouteProblems(&f.Result, "", "", "")
		if len(notes) > maxStatusNotes {
			notes = append(notes[:maxStatusNotes], fmt.Sprintf("... and %d more route conditions", len(notes)-maxStatusNotes))
		}
		return notes
	}
	return nil
}

// ingressNotes say, for a request an Ingress path served, which annotations of that Ingress
// shaped it and what resolution found wrong with the Ingress; for a 404, which Ingresses of the
// Gateway's classes are refused and why.
func ingressNotes(set *offline.Set, gw *gwapiv1.Gateway, f *offline.Translation, d *explain.Decision) []string {
	var notes []string
	conv := f.Ingresses
	switch {
	case d.Route != nil && d.Route.Source != nil && d.Route.Source.Kind == "Ingress":
		s := d.Route.Source
		for _, ing := range set.Docs.Ingresses {
			if ing.Namespace != s.Namespace || ing.Name != s.Name {
				continue
			}
			c := ingress.Select(ing, ingress.ClassesFor(gw.Namespace, gw.Name, set.Docs.IngressClasses, set.Docs.IngressClassConfigs))
			if c == nil {
				continue
			}
			var shaped []string
			for k, v := range ing.Annotations {
				if strings.HasPrefix(k, c.Prefix()+"/") {
					shaped = append(shaped, k+"="+v)
				}
			}
			slices.Sort(shaped)
			if len(shaped) > 0 {
				notes = append(notes, fmt.Sprintf("Ingress %s/%s annotations: %s", s.Namespace, s.Name, strings.Join(shaped, ", ")))
			}
		}
		for _, st := range f.Result.Ingresses {
			if st.Namespace == s.Namespace && st.Name == s.Name {
				for _, p := range st.Problems {
					notes = append(notes, fmt.Sprintf("Ingress %s/%s: %s", s.Namespace, s.Name, p))
				}
			}
		}
		for _, e := range conv.Notes {
			if e.Namespace == s.Namespace && e.Name == s.Name {
				notes = append(notes, fmt.Sprintf("Ingress %s/%s: %s", e.Namespace, e.Name, e.Message))
			}
		}
	case d.Action.Type == explain.ActionNotFound:
		for _, e := range conv.Refused {
			notes = append(notes, fmt.Sprintf("Ingress %s/%s is refused (%s): %s", e.Namespace, e.Name, e.Reason, e.Message))
		}
	}
	return notes
}
