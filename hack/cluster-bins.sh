#!/usr/bin/env bash
# Builds the test cluster's binaries from Go modules (no downloads of prebuilt binaries are possible
# here) and caches them outside the repository, keyed by version, in setup-envtest's layout.
#
#   hack/cluster-bins.sh            build what is missing; print the KUBEBUILDER_ASSETS directory
#   hack/cluster-bins.sh kubectl    also build kubectl (for people; tests do not need it)
#   hack/cluster-bins.sh paths      print "K8S_DIR KWOK_DIR LWEPP_DIR OAUTH2_PROXY_DIR" and build nothing
#
# lwepp is the Gateway API Inference Extension's conformance Endpoint Picker (an ext_proc server);
# the integration tests run it against the test cluster to check inference routing end to end.
# oauth2-proxy is what ingress-nginx's auth-url/auth-signin usually point at; test/extauth sends it
# the check requests Flotilla's ext_authz configuration makes Envoy send.
#
# A cold build costs ~15 minutes and ~3 GB of Go build cache on 2 cores (lwepp alone ~2 minutes); a
# warm run builds nothing.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
# Must match hack/tools/lwepp/go.mod.
LWEPP_VERSION=${LWEPP_VERSION:-1.6.0}
# Must match hack/tools/oauth2proxy/go.mod.
OAUTH2_PROXY_VERSION=${OAUTH2_PROXY_VERSION:-7.15.6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${FLOTILLA_ASSETS_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}
OSARCH="$(go env GOOS)-$(go env GOARCH)"
K8S_DIR="$DATA/k8s/${K8S_VERSION}-${OSARCH}"
KWOK_DIR="$DATA/kwok/${KWOK_VERSION}-${OSARCH}"
LWEPP_DIR="$DATA/lwepp/${LWEPP_VERSION}-${OSARCH}"
OAUTH2_PROXY_DIR="$DATA/oauth2-proxy/${OAUTH2_PROXY_VERSION}-${OSARCH}"
if [ "${1:-}" = paths ]; then echo "$K8S_DIR $KWOK_DIR $LWEPP_DIR $OAUTH2_PROXY_DIR"; exit 0; fi
mkdir -p "$K8S_DIR" "$KWOK_DIR" "$LWEPP_DIR" "$OAUTH2_PROXY_DIR"

log() { echo "cluster-bins: $*" >&2; }

# build MODULE_DIR OUT_DIR LDFLAGS PKG... : builds into a temporary directory, then moves the binaries
# into place, so an interrupted build never leaves a truncated binary in the cache.
build() {
  local moddir=$1 out=$2 ldflags=$3; shift 3
  local tmp; tmp=$(mktemp -d "$out/.build.XXXXXX")
  log "building $* (cold builds take minutes)"
  (cd "$ROOT/hack/tools/$moddir" && go build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@")
  mv "$tmp"/* "$out/" && rmdir "$tmp"
}

minor=${K8S_VERSION#*.}; minor=${minor%%.*}
K8S_LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"

want=(kube-apiserver kube-controller-manager kube-scheduler)
[ "${1:-}" = kubectl ] && want+=(kubectl)
pkgs=()
for b in "${want[@]}"; do [ -x "$K8S_DIR/$b" ] || pkgs+=("k8s.io/kubernetes/cmd/$b"); done
[ ${#pkgs[@]} -eq 0 ] || build apiserver "$K8S_DIR" "$K8S_LDFLAGS" "${pkgs[@]}"

# etcd lives next to kube-apiserver (envtest looks for both in KUBEBUILDER_ASSETS); a stamp records
# its version because the directory is keyed by the Kubernetes version.
if [ ! -x "$K8S_DIR/etcd" ] || [ "$(cat "$K8S_DIR/etcd.version" 2>/dev/null)" != "$ETCD_VERSION" ]; then
  build etcd "$K8S_DIR" "-s -w" go.etcd.io/etcd/server/v3
  mv "$K8S_DIR/v3" "$K8S_DIR/etcd" 2>/dev/null || mv "$K8S_DIR/server" "$K8S_DIR/etcd" 2>/dev/null || true
  echo "$ETCD_VERSION" > "$K8S_DIR/etcd.version"
fi

[ -x "$KWOK_DIR/kwok" ] || build kwok "$KWOK_DIR" "-s -w" sigs.k8s.io/kwok/cmd/kwok
[ -x "$LWEPP_DIR/lwepp" ] || build lwepp "$LWEPP_DIR" "-s -w" sigs.k8s.io/gateway-api-inference-extension/cmd/lwepp
[ -x "$OAUTH2_PROXY_DIR/oauth2-proxy" ] || build oauth2proxy "$OAUTH2_PROXY_DIR" "-s -w" github.com/oauth2-proxy/oauth2-proxy/v7

echo "$K8S_DIR"
