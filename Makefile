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
cluster-bins: ## Build (once, then cached) kube-apiserver, etcd, kube-controller-manager, kube-scheduler and KWOK.
	hack/cluster-bins.sh >/dev/null

.PHONY: test
test: manifests generate cluster-bins $(KUSTOMIZE) test-monitoring ## Unit and integration tests against a real API server, and the monitoring tests.
	KUBEBUILDER_ASSETS="$$(hack/cluster-bins.sh)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./...

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
bundle: manifests $(KUSTOMIZE) ## Generate bundle/ (CSV, CRDs, metadata, scorecard) from config/.
	$(KUSTOMIZE) build config/default | go run ./hack/bundle -version $(VERSION) -image ghcr.io/flotilla-dev/flotilla:$(BUNDLE_IMG_TAG)

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

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
