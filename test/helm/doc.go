// Package helm checks the Helm chart in charts/flotilla with the Helm Go SDK: it lints, renders with
// default and other values (the values schema refuses typos), equals `kustomize build config/default`
// object by object with default values (drift fails), and installs, upgrades and uninstalls on the
// local control plane (test/cluster). It is its own Go module so that Flotilla's manager never links
// Helm; a test checks that too.
package helm
