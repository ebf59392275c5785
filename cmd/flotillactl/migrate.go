package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/migrate"
	"github.com/flotilla-dev/flotilla/internal/offline"
)

// errFailed is returned when the output was written but the run must exit non-zero (a
// difference --verify found, a refusal under --strict): the reason is already on standard error.
var errFailed = errors.New("")

func newMigrate(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var in inputFlags
	var class, output, report string
	var verify, strict bool
	cmd := &cobra.Command{
		Use:   "migrate -f FILE|DIR|- [--ingress-class CLASS] [--gateway NAMESPACE/NAME] [-o yaml|json] [--report FILE] [--verify] [--strict]",
		Short: "Print Ingresses as Gateway API objects that serve every request as the Ingresses do",
		Long: `migrate reads Ingresses with their IngressClasses, IngressClassConfigs, the Gateway that serves
them, Services (a port named by name needs its number) and, optionally, Secrets, and prints what
Flotilla serves for them as objects to apply:

  - one HTTPRoute per Ingress and host (two when plain HTTP only redirects to HTTPS, or when the
    host's certificate is the Ingress's): an HTTPRoute's hostnames apply to all its rules, and an
    Ingress's rules each have their own host; Ingresses that share a host keep their own
    HTTPRoutes, as they keep their own owners;
  - a ListenerSet per Ingress with TLS hosts: an HTTPS listener per host with the Ingress's
    certificate (the Gateway must admit ListenerSets from the namespace: spec.allowedListeners);
  - ReferenceGrants for the cross-namespace references the IngressClassConfig allowed;
  - RouteFilters for what Gateway API cannot say (the idle timeout, the body size limit, access
    lists, rate limits, authentication, rewrites with capture groups), each with a comment
    saying why.

Hosts migrate as groups: the hosts of an Ingress, the Ingresses of a host and a canary with its
primaries go together or not at all, so that what stays an Ingress is served exactly as before.
An Ingress is not migrated when the objects could not say what it does exactly (the report
says why); it keeps being served, on the same Gateway.

The report (standard error, or --report FILE: .md for markdown, else YAML) says per Ingress and
annotation what it became. --verify resolves the input as it is and with the migrated Ingresses
replaced by the printed objects, and compares Envoy's decisions for every host, path and boundary
variant (trailing slash, one more segment or character, case, query), canary header and cookie,
on every HTTP and HTTPS port: it exits 1 on any difference, printing the request and both
decisions. --strict exits 1 when any Ingress of the classes is refused or not migrated.

Applied next to the Ingresses, the HTTPRoutes take precedence over them for the same host and
path; delete the Ingress once its routes are accepted, or delete the routes to roll back.`,
		Example: `  # Migrate the sample Ingress and prove the result
  flotillactl migrate -f config/samples/ingress --verify

  # What the cluster has now
  kubectl get ingresses,ingressclasses,ingressclassconfigs,gateways,services -A -o yaml |
    flotillactl migrate -f - --gateway infra/gw --report migration.md > migrated.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != offline.FormatYAML && output != offline.FormatJSON {
				return fmt.Errorf("-o %s: want yaml or json", output)
			}
			set, err := in.load(stdin, stderr)
			if err != nil {
				return err
			}
			res, err := migrate.Migrate(set, migrate.Options{Gateway: in.gateway, IngressClass: class})
			if err != nil {
				return err
			}
			if output == offline.FormatJSON {
				err = res.JSON(stdout)
			} else {
				err = res.YAML(stdout)
			}
			if err != nil {
				return fmt.Errorf("writing the output: %w", err)
			}
			if err := writeReport(&res.Report, report, stderr); err != nil {
				return err
			}
			failed := false
			if verify {
				v, err := migrate.Verify(res)
				if err != nil {
					return fmt.Errorf("verify: %w", err)
				}
				for _, n := range v.Notes {
					fmt.Fprintf(stderr, "verify: note: %s\n", n)
				}
				for _, d := range v.Differences {
					fmt.Fprintf(stderr, "verify: DIFFERENT: %s\n  Ingress:  %s\n  migrated: %s\n", d.Request, d.Ingress, d.Migrated)
				}
				if len(v.Differences) > 0 {
					fmt.Fprintf(stderr, "verify: FAILED: %d of %d requests are served differently (the first %d are listed)\n", v.Different, v.Requests, len(v.Differences))
					failed = true
				} else {
					fmt.Fprintf(stderr, "verify: OK: %d requests over %d migrated Ingresses get the same decision from the migrated objects\n", v.Requests, res.Report.Summary.Migrated)
				}
			}
			if strict && (res.Report.Summary.Refused > 0 || res.Report.Summary.NotMigrated > 0) {
				fmt.Fprintf(stderr, "strict: %d Ingresses are refused by the controller and %d not migrated\n", res.Report.Summary.Refused, res.Report.Summary.NotMigrated)
				failed = true
			}
			if failed {
				return errFailed
			}
			return nil
		},
	}
	in.add(cmd)
	cmd.Flags().StringVar(&class, "ingress-class", "", "migrate the Ingresses of this IngressClass only (default: every class of the Gateway)")
	cmd.Flags().StringVarP(&output, "output", "o", offline.FormatYAML, "output format: yaml (a stream, with comments) or json (a v1 List)")
	cmd.Flags().StringVar(&report, "report", "", "write the report to this file (.md: markdown, else YAML) instead of standard error")
	cmd.Flags().BoolVar(&verify, "verify", false, "compare Envoy's decisions before and after for a corpus of requests; exit 1 on any difference")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when any Ingress of the classes is refused by the controller or not migrated")
	return cmd
}

// writeReport writes the report to file (markdown for .md, else YAML), or as YAML to stderr.
func writeReport(r *migrate.Report, file string, stderr io.Writer) error {
	if file == "" {
		y, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stderr, "# report\n%s", y)
		return err
	}
	f, err := os.Create(filepath.Clean(file))
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(file, ".md"):
		err = r.Markdown(f)
	case strings.HasSuffix(file, ".json"):
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	default:
		var y []byte
		if y, err = yaml.Marshal(r); err == nil {
			_, err = f.Write(y)
		}
	}
	return errors.Join(err, f.Close())
}
