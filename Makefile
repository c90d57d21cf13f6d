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

BIN         := $(CURDIR)/bin
KUBE_BIN    := $(BIN)/kube-$(KUBE_VERSION)
ETCD_BIN    := $(BIN)/etcd-$(ETCD_VERSION)
KWOK_BIN    := $(BIN)/kwok-$(KWOK_VERSION)
HELM_BIN    := $(BIN)/helm-$(HELM_VERSION)
CTRLGEN_BIN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_CM        := $(KUBE_BIN)/kube-controller-manager
KUBE_SCHEDULER := $(KUBE_BIN)/kube-scheduler
ETCD           := $(ETCD_BIN)/etcd
KWOK           := $(KWOK_BIN)/kwok
HELM           := $(HELM_BIN)/helm
CONTROLLER_GEN := $(CTRLGEN_BIN)/controller-gen

KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean

##@ Tools (built from pinned Go modules into bin/)

.PHONY: tools
tools: $(KUBE_APISERVER) $(KUBE_CM) $(KUBE_SCHEDULER) $(ETCD) $(KWOK) $(HELM) $(CONTROLLER_GEN) ## Build every pinned tool the tests need (skips what is built)

$(KUBE_BIN)/%: tools/kube/go.mod tools/kube/go.sum
	@mkdir -p $(KUBE_BIN)
	@echo ">> building $* $(KUBE_VERSION) (cold: minutes)"
	cd tools/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@.tmp k8s.io/kubernetes/cmd/$* && mv $@.tmp $@

$(ETCD): tools/etcd/go.mod tools/etcd/go.sum
	@mkdir -p $(ETCD_BIN)
	@echo ">> building etcd $(ETCD_VERSION)"
	cd tools/etcd && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@.tmp go.etcd.io/etcd/server/v3 && mv $@.tmp $@

$(KWOK):
	@mkdir -p $(KWOK_BIN)
	@echo ">> building kwok $(KWOK_VERSION)"
	GOBIN=$(KWOK_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

$(HELM):
	@mkdir -p $(HELM_BIN)
	@echo ">> building helm $(HELM_VERSION)"
	GOBIN=$(HELM_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(CONTROLLER_GEN):
	@mkdir -p $(CTRLGEN_BIN)
	@echo ">> building controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(CTRLGEN_BIN) CGO_ENABLED=0 $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9\/.%-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
