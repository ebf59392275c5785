#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit tester) from the Go module pinned in
# hack/tools/promtool/go.mod and caches it outside the repository, keyed by version, next to the
# test cluster's binaries (see hack/cluster-bins.sh); prints the binary's path. A warm run builds
# nothing. A cold build takes ~6 minutes on 2 cores with an empty build cache (Prometheus is a large module).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(cd "$ROOT/hack/tools/promtool" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)
DATA=${FLOTILLA_ASSETS_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}
DIR="$DATA/promtool/${VERSION}-$(go env GOOS)-$(go env GOARCH)"
if [ ! -x "$DIR/promtool" ]; then
  mkdir -p "$DIR"
  tmp=$(mktemp -d "$DIR/.build.XXXXXX")
  echo "promtool: building github.com/prometheus/prometheus/cmd/promtool $VERSION (a cold build takes minutes)" >&2
  (cd "$ROOT/hack/tools/promtool" && go build -trimpath -ldflags "-s -w" -o "$tmp/promtool" github.com/prometheus/prometheus/cmd/promtool)
  mv "$tmp/promtool" "$DIR/promtool" && rmdir "$tmp"
fi
echo "$DIR/promtool"
