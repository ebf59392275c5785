package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flotilla-dev/flotilla/internal/offline"
)

func newTranslate(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var in inputFlags
	var output, types string
	cmd := &cobra.Command{
		Use:   "translate -f FILE|DIR|- [-f ...] [--gateway NAMESPACE/NAME] [-o yaml|json] [--type TYPES]",
		Short: "Print the xDS each Gateway's fleet would receive, and the status every object would get",
		Long: `translate resolves and translates each Flotilla Gateway of the input (or the one --gateway names)
exactly as the controller does, and prints, per Gateway:

  - notes: what the output owes to having no cluster (Services without EndpointSlices get a
    synthetic endpoint, their clusterIP, or none when they have no clusterIP);
  - the xDS its Envoys would receive (listeners, routes, clusters, endpoints, secrets; secret data
    is never shown), then the translation warnings (what was left out, and why);
  - the status every object would get: listeners, ListenerSets, and each route's parent entry,
    as condition type, status, reason and message.

A Gateway is Flotilla's unless its GatewayClass is in the input with another controllerName.
Invalid objects get the status the controller would give them, and the exit status is 0; it is
non-zero only for unreadable input, a bad flag, or a failed translation (a Flotilla bug).

YAML output is one document per Gateway; JSON is {"gateways": [...]} with the same fields.`,
		Example: `  # Everything the sample Gateway's fleet receives
  flotillactl translate -f config/samples

  # Its routes only, as JSON
  flotillactl translate -f config/samples --gateway team-a/web --type routes -o json

  # What the cluster has now (kubectl's List output is read as is)
  kubectl get gateways,httproutes,services,endpointslices -A -o yaml | flotillactl translate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sections, err := offline.ParseTypes(types)
			if err != nil {
				return err
			}
			if output != offline.FormatYAML && output != offline.FormatJSON {
				return fmt.Errorf("-o %s: want yaml or json", output)
			}
			set, err := in.load(stdin, stderr)
			if err != nil {
				return err
			}
			gws, skipped, err := set.Gateways(in.gateway)
			for _, s := range skipped {
				fmt.Fprintf(stderr, "note: %s\n", s)
			}
			if err != nil {
				return err
			}
			fleets := make([]*offline.Translation, 0, len(gws))
			var failed []error
			for _, gw := range gws {
				f, err := set.Translate(gw)
				if err != nil {
					failed = append(failed, err)
				}
				fleets = append(fleets, f)
			}
			if err := offline.Render(stdout, fleets, output, sections); err != nil {
				return fmt.Errorf("writing the output: %w", err)
			}
			return errors.Join(failed...)
		},
	}
	in.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", offline.FormatYAML, "output format: yaml or json")
	cmd.Flags().StringVar(&types, "type", "all", "xDS types to print: all, or a comma-separated list of listeners,routes,clusters,endpoints,secrets")
	return cmd
}
