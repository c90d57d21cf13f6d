# Stowage Makefile. `make help` lists every target.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
GOFLAGS ?=
export GOFLAGS

# Pinned versions of everything the tests build. Binaries land in bin/<name>-<version>/,
# so a warm machine skips the build and a version bump rebuilds.
KUBE_VERSION           ?= v1.37.2
ETCD_VERSION           ?= v3.6.16
KWOK_VERSION           ?= v0.8.0
HELM_VERSION           ?= v3.22.0
CONTROLLER_GEN_VERSION ?= v0.23.0
# cert-manager: the version tools/cert-manager/go.mod requires (checked when it is built).
CERT_MANAGER_VERSION   ?= v1.21.2
# prometheus-operator: the version tools/prometheus-operator/go.mod requires (checked when it is built).
PROM_OPERATOR_VERSION  ?= v0.85.0

# Peers that `make bench-check` times `stowage check` against, built on demand (never by `make
# tools` or `make test`) from the versions tools/<name>/go.mod requires (checked when built).
KYVERNO_VERSION    ?= v1.19.1
KUBE_SCORE_VERSION ?= v1.20.0
GATOR_VERSION      ?= v3.23.1
# The peers to time; `make bench-check BENCH_PEERS=` times stowage-check alone.
BENCH_PEERS        ?= kyverno kube-score gator
BENCH_ROUNDS       ?= 10
# A peer that does not build within this many seconds is left out of the table.
PEER_BUILD_TIMEOUT ?= 900

# Separate modules that pin what `make tools` and `make bench-check` build.
TOOL_MODULES := tools/kube tools/etcd tools/cert-manager tools/prometheus-operator \
	tools/kyverno tools/kube-score tools/gator

BIN         := $(CURDIR)/bin
KUBE_BIN    := $(BIN)/kube-$(KUBE_VERSION)
ETCD_BIN    := $(BIN)/etcd-$(ETCD_VERSION)
KWOK_BIN    := $(BIN)/kwok-$(KWOK_VERSION)
HELM_BIN    := $(BIN)/helm-$(HELM_VERSION)
CTRLGEN_BIN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
CERTMGR_BIN := $(BIN)/cert-manager-$(CERT_MANAGER_VERSION)
PROMOP_BIN  := $(BIN)/prometheus-operator-$(PROM_OPERATOR_VERSION)
KYVERNO     := $(BIN)/kyverno-$(KYVERNO_VERSION)/kyverno
KUBE_SCORE  := $(BIN)/kube-score-$(KUBE_SCORE_VERSION)/kube-score
GATOR       := $(BIN)/gator-$(GATOR_VERSION)/gator

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_CM        := $(KUBE_BIN)/kube-controller-manager
KUBE_SCHEDULER := $(KUBE_BIN)/kube-scheduler
ETCD           := $(ETCD_BIN)/etcd
KWOK           := $(KWOK_BIN)/kwok
HELM           := $(HELM_BIN)/helm
CONTROLLER_GEN := $(CTRLGEN_BIN)/controller-gen
CERT_MANAGER   := $(CERTMGR_BIN)/cert-manager
CERT_MANAGER_CRDS := $(CERTMGR_BIN)/crds
PROM_OPERATOR      := $(PROMOP_BIN)/prometheus-operator
PROM_OPERATOR_CRDS := $(PROMOP_BIN)/crds

KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean

# Fuzzing: each target runs for FUZZTIME. `make test` uses a short bound; `make fuzz` a longer one.
FUZZTIME    ?= 60s
CI_FUZZTIME ?= 5s
FUZZ_TARGETS := \
	./policy:FuzzEvaluate \
	./internal/stream:FuzzRead \
	./internal/stream:FuzzKubectlJSON \
	./internal/stream:FuzzApplyPatch \
	./internal/stream:FuzzPlain \
	./check:FuzzFix \
	./check:FuzzQuickMeta \
	./internal/policyfile:FuzzLoad \
	./webhook:FuzzServeHTTP \
	./webhook:FuzzPeekRequest \
	./internal/operatorcr:FuzzProject

# Environment for the e2e suites: where the pinned binaries are. cert-manager's CRDs are read
# from the crds/ folder next to STOWAGE_CERT_MANAGER. STOWAGE_E2E_LOCK keeps the e2e packages'
# control planes, which `go test ./e2e/...` runs side by side, out of TestWebhookLoad's
# measurement (e2e/cluster/quiet.go).
E2E_ENV := STOWAGE_KUBE_BIN_DIR=$(KUBE_BIN) STOWAGE_ETCD=$(ETCD) STOWAGE_KWOK=$(KWOK) STOWAGE_KWOK_STAGES_DIR=$(KWOK_BIN)/stages \
	STOWAGE_HELM=$(HELM) STOWAGE_CONTROLLER_GEN=$(CONTROLLER_GEN) STOWAGE_CERT_MANAGER=$(CERT_MANAGER) \
	STOWAGE_PROMETHEUS_OPERATOR=$(PROM_OPERATOR) STOWAGE_E2E_LOCK=$(BIN)/.e2e.lock

##@ Development

.PHONY: build
build: ## Build bin/stowage
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' -o $(BIN)/stowage ./cmd/stowage

.PHONY: build-check
build-check: ## Build bin/stowage-check: the same CLI without webhook and audit, for CI pipelines (11 MB, starts in ms)
	CGO_ENABLED=0 $(GO) build -tags checkonly -trimpath -ldflags '-s -w -X main.version=$(VERSION)' -o $(BIN)/stowage-check ./cmd/stowage

.PHONY: run-check
run-check: ## Run `stowage check` over the shared corpus with the embedded default policy
	$(GO) run ./cmd/stowage check ../shared/corpus/bitnami/mariadb-galera.yaml

.PHONY: golden
golden: $(HELM) $(CONTROLLER_GEN) ## Regenerate golden files (UPDATE_GOLDEN=1), install.yaml and the CRD included
	$(E2E_ENV) UPDATE_GOLDEN=1 $(GO) test ./policy/... ./check/... ./audit/... ./manifests/... ./webhook/... >/dev/null
	@git status --short -- '*testdata*' manifests/install.yaml

.PHONY: manifests
manifests: $(CONTROLLER_GEN) $(HELM) ## Regenerate deepcopy code, the CRD and manifests/install.yaml
	$(CONTROLLER_GEN) object paths=./policy/api/...
	$(E2E_ENV) $(GO) run ./manifests/gen

##@ Testing

.PHONY: test
test: lint test-unit fuzz-ci test-e2e test-reliability ## Run everything CI runs: lint, unit tests, short fuzzing, e2e and failure suites

.PHONY: test-unit
test-unit: $(HELM) $(CONTROLLER_GEN) $(PROM_OPERATOR_CRDS)/.stamp ## Run the unit tests (includes helm lint/template checks; operator fixtures against the CRDs)
	$(E2E_ENV) $(GO) test -count=1 ./...

.PHONY: test-e2e
test-e2e: tools chromium ## Run every e2e suite (webhook, placement, audit, cert-manager) against a real control plane
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout 60m -v ./e2e/... 2>&1 | tee $(BIN)/e2e.log

.PHONY: test-reliability
test-reliability: tools ## Run the failure tests (two replicas: graceful stop, crash, rotation, API server and etcd outages); table in bin/reliability-report.md
	$(E2E_ENV) $(GO) test -count=1 -tags reliability -timeout 15m -v ./e2e/reliability/ 2>&1 | tee $(BIN)/reliability.log

.PHONY: test-placement
test-placement: tools ## Run only the placement suite (included in test-e2e); its table goes to bin/placement-*.md
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout 40m -v -run 'TestPlacement' ./e2e/ 2>&1 | tee $(BIN)/placement.log

.PHONY: test-recovery
test-recovery: tools ## Run only the recovery suites (included in test-e2e): every corpus system, crashes at each step, a scale-up; table appended to bin/placement-report.md
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout 20m -v -run 'TestRecovery' ./e2e/ 2>&1 | tee $(BIN)/recovery.log

.PHONY: test-upgrade
test-upgrade: tools ## Run only the upgrade suite (included in test-e2e): helm/kubectl/operator updates, table in bin/upgrade-report.md
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout 20m -v -run 'TestUpgradesKeepWhatStowageAdded' ./e2e/ 2>&1 | tee $(BIN)/upgrade.log

.PHONY: test-cert-manager
test-cert-manager: tools ## Run only the cert-manager suite (included in test-e2e): real cert-manager issues the chart's certificate
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout 20m -v -run 'TestCertManager' ./e2e/ 2>&1 | tee $(BIN)/cert-manager.log

.PHONY: chromium
chromium: ## Install Debian's headless Chromium if missing (the audit's HTML is rendered in it)
	@command -v chromium >/dev/null || { echo ">> installing chromium"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

.PHONY: fuzz-ci
fuzz-ci: ## Run every fuzz target briefly (CI_FUZZTIME each)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(CI_FUZZTIME)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 60s) each
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo ">> fuzz $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; done

.PHONY: bench
bench: build build-check ## Run the Go benchmarks, and time both binaries' check over the corpus and ten copies of it
	$(GO) test -run '^$$' -bench . -benchmem ./policy/ ./check/ ./internal/stream/ ./webhook/... ./audit/...
	$(GO) run ./hack/benchcheck -stowage-check $(BIN)/stowage-check -stowage $(BIN)/stowage -stowage-version $(VERSION) -rounds 5 -out ''

.PHONY: bench-check
bench-check: build-check ## Time bin/stowage-check against kyverno apply, kube-score and gator (built on demand) on the corpus and ten copies, interleaved; table in bin/bench-check.md
	@peers=; for p in $(BENCH_PEERS); do \
		case $$p in \
		kyverno) exe=$(KYVERNO); v=$(KYVERNO_VERSION);; \
		kube-score) exe=$(KUBE_SCORE); v=$(KUBE_SCORE_VERSION);; \
		gator) exe=$(GATOR); v=$(GATOR_VERSION);; \
		*) echo "unknown peer $$p in BENCH_PEERS (kyverno, kube-score, gator)"; exit 2;; \
		esac; \
		$(MAKE) --no-print-directory $$exe || echo ">> $$p $$v did not build (see above): timing without it"; \
		peers="$$peers -$$p $$exe -$$p-version $$v"; \
	done; \
	$(GO) run ./hack/benchcheck -stowage-check $(BIN)/stowage-check -stowage-version $(VERSION) \
		-rounds $(BENCH_ROUNDS) -out $(BIN)/bench-check.md $$peers

.PHONY: bench-audit
bench-audit: tools ## Time `stowage audit` over 1,000 nodes, 5,000 StatefulSets and 15,000 pods/claims/volumes (minutes)
	$(E2E_ENV) STOWAGE_AUDIT_SCALE=1 $(GO) test -count=1 -tags e2e -timeout 60m -v -run 'TestAuditScale' ./e2e/ 2>&1 | tee $(BIN)/audit-scale.log

.PHONY: bench-admission
bench-admission: $(KUBE_APISERVER) $(ETCD) $(HELM) ## Time StatefulSet CREATE with no admission, Stowage, a MutatingAdmissionPolicy and a no-op webhook, alternating (minutes); table in bin/bench-admission.md
	$(E2E_ENV) $(GO) run ./e2e/benchadmission -out $(BIN)/bench-admission.md $(BENCH_ADMISSION_FLAGS)

.PHONY: lint
lint: ## go vet, gofmt and go mod tidy must be clean (the tool modules' go.mod files too)
	$(GO) mod tidy -diff
	for d in $(TOOL_MODULES); do (cd $$d && $(GO) mod tidy -diff) || { echo "go mod tidy needed in $$d"; exit 1; }; done
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags reliability ./e2e/reliability/
	$(GO) vet -tags checkonly ./cmd/stowage
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: verify
verify: lint ## lint, plus golden files unchanged
	@$(MAKE) --no-print-directory golden
	@git diff --exit-code -- '*testdata*' manifests/ || { echo "golden files out of date"; exit 1; }

.PHONY: clean
clean: ## Remove bin/ (the pinned tools too; they rebuild on the next run)
	rm -rf $(BIN)

##@ Tools (built from pinned Go modules into bin/)

KWOK_STAGES      := $(KWOK_BIN)/stages
KWOK_STAGE_FILES := node/fast/node-initialize.yaml \
	node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml

.PHONY: tools
tools: $(KUBE_APISERVER) $(KUBE_CM) $(KUBE_SCHEDULER) $(ETCD) $(KWOK) $(KWOK_STAGES)/.stamp $(HELM) $(CONTROLLER_GEN) $(CERT_MANAGER) $(CERT_MANAGER_CRDS)/.stamp $(PROM_OPERATOR) $(PROM_OPERATOR_CRDS)/.stamp ## Build every pinned tool the tests need (skips what is built)

$(KUBE_BIN)/%:
	@mkdir -p $(KUBE_BIN)
	@echo ">> building $* $(KUBE_VERSION) (cold: minutes)"
	cd tools/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@.tmp k8s.io/kubernetes/cmd/$* && mv $@.tmp $@

$(ETCD):
	@mkdir -p $(ETCD_BIN)
	@echo ">> building etcd $(ETCD_VERSION)"
	cd tools/etcd && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@.tmp go.etcd.io/etcd/server/v3 && mv $@.tmp $@

$(KWOK):
	@mkdir -p $(KWOK_BIN)
	@echo ">> building kwok $(KWOK_VERSION)"
	GOBIN=$(KWOK_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

# kwok ships no stages in its binary: copy the ones the harness uses from its module.
$(KWOK_STAGES)/.stamp:
	@mkdir -p $(KWOK_STAGES)
	@echo ">> copying kwok $(KWOK_VERSION) stages"
	dir="$$(cd / && $(GO) mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -n "$$dir"; \
	for f in $(KWOK_STAGE_FILES); do install -m 0644 "$$dir/kustomize/stage/$$f" $(KWOK_STAGES)/; done
	@touch $@

$(HELM):
	@mkdir -p $(HELM_BIN)
	@echo ">> building helm $(HELM_VERSION)"
	GOBIN=$(HELM_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(CONTROLLER_GEN):
	@mkdir -p $(CTRLGEN_BIN)
	@echo ">> building controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(CTRLGEN_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

# cert-manager's commands are modules the proxy does not serve: tools/cert-manager runs its
# controllers and cainjector from the library module, pinned in its go.mod. Rebuilt when its
# sources change.
$(CERT_MANAGER): tools/cert-manager/main.go tools/cert-manager/go.mod tools/cert-manager/go.sum
	@mkdir -p $(CERTMGR_BIN)
	@echo ">> building cert-manager $(CERT_MANAGER_VERSION) controllers and cainjector (cold: minutes)"
	@v="$$(cd tools/cert-manager && $(GO) list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)"; \
		test "$$v" = "$(CERT_MANAGER_VERSION)" || { echo "tools/cert-manager/go.mod requires cert-manager $$v, not $(CERT_MANAGER_VERSION)"; exit 1; }
	cd tools/cert-manager && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@.tmp . && mv $@.tmp $@

# The CRDs a cert-manager install creates, from the same module.
$(CERT_MANAGER_CRDS)/.stamp:
	@mkdir -p $(CERT_MANAGER_CRDS)
	@echo ">> copying cert-manager $(CERT_MANAGER_VERSION) CRDs"
	dir="$$(cd / && $(GO) mod download -json github.com/cert-manager/cert-manager@$(CERT_MANAGER_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -n "$$dir"; \
	install -m 0644 "$$dir"/deploy/crds/*.yaml $(CERT_MANAGER_CRDS)/
	@touch $@

# prometheus-operator's go.mod has local replace directives, so `go install …@version` refuses
# it: tools/prometheus-operator requires it with its pkg/apis/monitoring and pkg/client modules
# at the same version and builds cmd/operator. Rebuilt when the wrapper's go.mod changes.
$(PROM_OPERATOR): tools/prometheus-operator/go.mod tools/prometheus-operator/go.sum
	@mkdir -p $(PROMOP_BIN)
	@echo ">> building prometheus-operator $(PROM_OPERATOR_VERSION) (cold: minutes)"
	@v="$$(cd tools/prometheus-operator && $(GO) list -m -f '{{.Version}}' github.com/prometheus-operator/prometheus-operator)"; \
		test "$$v" = "$(PROM_OPERATOR_VERSION)" || { echo "tools/prometheus-operator/go.mod requires prometheus-operator $$v, not $(PROM_OPERATOR_VERSION)"; exit 1; }
	cd tools/prometheus-operator && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@.tmp github.com/prometheus-operator/prometheus-operator/cmd/operator && mv $@.tmp $@

# The CRDs (full schemas) from the same module; the e2e reads them from crds/ next to the binary.
$(PROM_OPERATOR_CRDS)/.stamp:
	@mkdir -p $(PROM_OPERATOR_CRDS)
	@echo ">> copying prometheus-operator $(PROM_OPERATOR_VERSION) CRDs"
	dir="$$(cd / && $(GO) mod download -json github.com/prometheus-operator/prometheus-operator@$(PROM_OPERATOR_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')"; \
	test -n "$$dir"; \
	install -m 0644 "$$dir"/example/prometheus-operator-crd-full/*.yaml $(PROM_OPERATOR_CRDS)/
	@touch $@

##@ Peers (built only by bench-check)

# The peers' commands are main packages of their modules; each tools/<name> module requires the
# pinned version (kyverno's with the replace directive its own go.mod needs) and builds it.
$(KYVERNO): tools/kyverno/go.mod tools/kyverno/go.sum
	@$(call peer-build,kyverno,$(KYVERNO_VERSION),github.com/kyverno/kyverno,github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno)

$(KUBE_SCORE): tools/kube-score/go.mod tools/kube-score/go.sum
	@$(call peer-build,kube-score,$(KUBE_SCORE_VERSION),github.com/zegl/kube-score,github.com/zegl/kube-score/cmd/kube-score)

$(GATOR): tools/gator/go.mod tools/gator/go.sum
	@$(call peer-build,gator,$(GATOR_VERSION),github.com/open-policy-agent/gatekeeper/v3,github.com/open-policy-agent/gatekeeper/v3/cmd/gator)

# peer-build: name, version, module, command package. Checks the version the wrapper module
# requires, then builds within PEER_BUILD_TIMEOUT seconds.
define peer-build
mkdir -p $(@D); \
v="$$(cd tools/$(1) && $(GO) list -m -f '{{.Version}}' $(3))"; \
test "$$v" = "$(2)" || { echo "tools/$(1)/go.mod requires $(3) $$v, not $(2)"; exit 1; }; \
echo ">> building $(1) $(2) for bench-check (cold: minutes; at most $(PEER_BUILD_TIMEOUT)s)"; \
cd tools/$(1) && CGO_ENABLED=0 timeout $(PEER_BUILD_TIMEOUT) $(GO) build -trimpath -ldflags '-s -w' -o $@.tmp $(4) && mv $@.tmp $@
endef

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9\/.%-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
