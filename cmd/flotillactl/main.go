// Command flotillactl answers, without a cluster, the questions of a person debugging a Flotilla
// Gateway: what configuration will its Envoys get (translate), which route does a request take,
// and why (explain), and what would its Ingresses be as Gateway API objects that serve the same
// (migrate). It runs the controller's own resolve and translate.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/flotilla-dev/flotilla/internal/offline"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// A short-lived process that builds large object graphs (YAML, protos): collecting less
		// often makes it markedly faster, for memory it gives back at exit anyway.
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs flotillactl with args and returns its exit status: 0, or 1 for unreadable input, a
// bad flag, or a translation failure (a Flotilla bug).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if !errors.Is(err, errFailed) { // errFailed: the reason is on standard error already
			fmt.Fprintf(stderr, "error: %v\n", err)
		}
		return 1
	}
	return 0
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "flotillactl",
		Short: "Debug Flotilla Gateways offline: the xDS they get, the route a request takes",
		Long: `flotillactl reads Gateway API objects (Gateways, ListenerSets, routes, ReferenceGrants), Services,
EndpointSlices, Secrets and Namespaces from files, and runs Flotilla's own resolve and translate on
them, as the controller does, without a cluster.

Objects of other kinds (GatewayClass aside, which says which Gateways are Flotilla's) are skipped
with a note on standard error. Namespaced objects without a namespace are in "default".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newTranslate(stdin, stdout, stderr), newExplain(stdin, stdout, stderr), newMigrate(stdin, stdout, stderr))
	return root
}

// inputFlags are the flags both commands read their input with.
type inputFlags struct {
	files   []string
	gateway string
}

func (f *inputFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil,
		"file, directory (its *.yaml, *.yml and *.json files) or - (standard input) to read; repeatable")
	cmd.Flags().StringVar(&f.gateway, "gateway", "", "the Gateway, as namespace/name (or name, in namespace default)")
}

// load reads the input and reports skipped documents on stderr.
func (f *inputFlags) load(stdin io.Reader, stderr io.Writer) (*offline.Set, error) {
	if len(f.files) == 0 {
		return nil, errors.New("no input: give -f FILE, -f DIR or -f -")
	}
	srcs, err := offline.ReadSources(f.files, stdin)
	if err != nil {
		return nil, err
	}
	set, err := offline.Load(srcs)
	if err != nil {
		return nil, err
	}
	for _, s := range set.Skipped {
		fmt.Fprintf(stderr, "note: %s\n", s)
	}
	return set, nil
}
