# Flotilla — a Kubernetes Gateway API operator with Envoy fleets.
# `make demo` and `make test` are the two commands a fresh machine with Go needs.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Versions of the build tools (fetched from the Go module proxy into ./bin on first use).
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
# The local control plane's versions (kube-apiserver, etcd, KWOK) are set in hack/cluster-bins.sh.

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
IMG ?= ghcr.io/flotilla-dev/flotilla:latest
GO_TEST_FLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: promtool
promtool: ## Build (once, then cached beside the cluster binaries) promtool, from hack/tools/promtool.
	hack/promtool.sh >/dev/null

.PHONY: cluster-bins
cluster-bins: ## Build (once, then cached) kube-apiserver, etcd, kube-controller-manager, kube-scheduler, KWOK, lwepp and oauth2-proxy.
	hack/cluster-bins.sh >/dev/null

.PHONY: test
test: manifests generate chart cluster-bins $(KUSTOMIZE) test-monitoring ## Unit and integration tests against a real API server, the monitoring tests, then the Helm chart's (test/helm).
	KUBEBUILDER_ASSETS="$$(hack/cluster-bins.sh)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./...
	cd $(HELM_MOD) && KUBEBUILDER_ASSETS="$$(../../hack/cluster-bins.sh)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: ## Unit tests only (no API server).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/)

.PHONY: test-monitoring
test-monitoring: promtool ## The dashboard JSON is current, every query and rule parses, promtool checks and unit-tests the alerts.
	cd hack/tools/dashboard && go test $(GO_TEST_FLAGS) ./...
	cd hack/tools/promtool && PROMTOOL="$$($(CURDIR)/hack/promtool.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: dashboard
dashboard: ## Regenerate config/grafana/flotilla-dashboard.json from hack/tools/dashboard.
	cd hack/tools/dashboard && go run . -o $(CURDIR)/config/grafana/flotilla-dashboard.json
	cd hack/tools/promtool && go test -run TestExpressionsParse -update ./...

.PHONY: bench
bench: ## Benchmarks.
	go test -run '^$$' -bench . -benchmem $$(go list ./... | grep -v /test/)

##@ Conformance

.PHONY: conformance-local
conformance-local: manifests cluster-bins ## Gateway API conformance tests that need no data plane, against the local control plane; report in _output/conformance/.
	cd test/conformance && FLOTILLA_CONFORMANCE=local go test -count=1 -timeout 60m -run TestConformance . $(CONFORMANCE_FLAGS)

.PHONY: conformance
conformance: ## The whole Gateway API conformance suite against the cluster in KUBECONFIG (Flotilla installed there).
	cd test/conformance && go test -count=1 -timeout 180m -run TestConformance . $(CONFORMANCE_FLAGS)

##@ Local control plane

.PHONY: demo
demo: manifests cluster-bins ## Start a local control plane, run Flotilla, apply config/samples and show what happened.
	go run ./hack/devcluster demo
	@echo "--- flotillactl, offline, from the same YAML: the sample Gateway's routes, and one request explained"
	go run ./cmd/flotillactl translate -f config/samples --gateway team-a/web --type routes 2>/dev/null
	go run ./cmd/flotillactl explain -f config/samples --gateway team-a/web --request 'GET http://app.example.com/api/v1?x=1' 2>/dev/null
	go run ./cmd/flotillactl explain -f config/samples --gateway team-a/web --request 'POST http://llm.example.com/v1/completions' 2>/dev/null
	go run ./cmd/flotillactl explain -f config/samples --gateway team-a/web --request 'GET http://legacy.example.com/legacy/x/y?z=1' 2>/dev/null
	@echo "--- flotillactl migrate: the sample Ingress as Gateway API objects, and the proof that they serve every request the same"
	go run ./cmd/flotillactl migrate -f config/samples --gateway team-a/web --verify --report /dev/null 2>&1 | grep -v '^note: '
	@echo "--- installing with Helm instead: helm install flotilla ./charts/flotilla -n flotilla-system --create-namespace (make helm-install against make dev-cluster)"
	@echo "--- monitoring: the Grafana dashboard is config/grafana/flotilla-dashboard.json; alerts config/prometheus/rules.yaml (runbooks: docs/operating.md)"

.PHONY: scale
scale: cluster-bins ## The scale harness on the local control plane: 1 Gateway x 10,000 HTTPRoutes, 500 Gateways x 20 (FLOTILLA_SCALE_ROUTES/_GATEWAYS=N); prints convergence time, CPU, RSS.
	FLOTILLA_SCALE=1 KUBEBUILDER_ASSETS="$$(hack/cluster-bins.sh)" go test -count=1 -timeout 30m -run 'TestScaleRoutes|TestScaleGateways' -v ./test/integration/ | grep -E 'scale (routes|gateways)|^(ok|FAIL|---)'

.PHONY: dev-cluster
dev-cluster: manifests ## Start the local control plane and leave it running (prints KUBECONFIG and kubectl).
	hack/cluster-bins.sh kubectl >/dev/null
	go run ./hack/devcluster up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the local control plane started by dev-cluster.
	go run ./hack/devcluster down

##@ OLM bundle

VERSION ?= 0.1.0
BUNDLE_IMG_TAG ?= v$(VERSION)

.PHONY: bundle
bundle: manifests chart $(KUSTOMIZE) ## Generate bundle/ (CSV, CRDs, metadata, scorecard) from config/; also runs `make chart`.
	$(KUSTOMIZE) build config/default | go run ./hack/bundle -version $(VERSION) -image ghcr.io/flotilla-dev/flotilla:$(BUNDLE_IMG_TAG)

##@ Helm chart

HELM_MOD := test/helm
HELM ?= $(LOCALBIN)/helm-$(shell sed -n 's/^\thelm.sh\/helm\/v3 //p' $(HELM_MOD)/go.mod)
HELM_RELEASE_NAMESPACE ?= flotilla-system
# The Kubernetes minor version `helm template` assumes without a cluster (as Helm's own release builds
# set it): that of the client-go test/helm builds with.
HELM_K8S_MINOR = $(shell sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' $(HELM_MOD)/go.mod)

.PHONY: chart
chart: manifests $(KUSTOMIZE) ## Generate the chart's CRDs, RBAC and admission policy (charts/flotilla) from config/.
	$(KUSTOMIZE) build config/default | go run ./hack/chart -version $(VERSION) -rules config/prometheus/rules.yaml

.PHONY: test-helm
test-helm: chart cluster-bins $(KUSTOMIZE) ## The chart's tests (lint, template, drift from config/, install/upgrade/uninstall on the local control plane).
	cd $(HELM_MOD) && KUBEBUILDER_ASSETS="$$(../../hack/cluster-bins.sh)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./...

.PHONY: helm
helm: $(HELM) ## Build the helm CLI (the version test/helm pins) into ./bin.

.PHONY: helm-install
helm-install: $(HELM) ## helm upgrade --install the chart into the cluster of `make dev-cluster` (or KUBECONFIG=...); HELM_FLAGS adds flags.
	KUBECONFIG="$${KUBECONFIG:-$(CURDIR)/_output/dev-cluster/kubeconfig}" $(HELM) upgrade --install flotilla charts/flotilla \
	  -n $(HELM_RELEASE_NAMESPACE) --create-namespace --wait --timeout 2m $(HELM_FLAGS)
	@echo "Uninstall with: KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/_output/dev-cluster/kubeconfig} $(HELM) uninstall flotilla -n $(HELM_RELEASE_NAMESPACE)"

##@ Build

.PHONY: build
build: manifests generate ## Build the manager binary.
	go build -o bin/manager ./cmd

.PHONY: run
run: manifests generate ## Run the manager against the cluster in KUBECONFIG.
	go run ./cmd

##@ Tools

.PHONY: controller-gen kustomize
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into ./bin.
kustomize: $(KUSTOMIZE) ## Install kustomize into ./bin.

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(HELM): $(HELM_MOD)/go.mod | $(LOCALBIN)
	cd $(HELM_MOD) && go build -o $@ -ldflags "-X helm.sh/helm/v3/internal/version.version=$(patsubst $(LOCALBIN)/helm-%,%,$@) \
	  $(foreach p,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(p).k8sVersionMinor=$(HELM_K8S_MINOR))" \
	  helm.sh/helm/v3/cmd/helm

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
