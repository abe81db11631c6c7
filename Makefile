# kbrun — build, test, and the project's own local cluster.
#
#   make build          bin/kbrun
#   make test           everything: unit tests, then integration and end-to-end
#                       tests on a real cluster (brought up and torn down here
#                       unless KBRUN_TEST_KUBECONFIG names one)
#   make demo           run the default pipeline on the local cluster
#   make release        dist/: binaries, kubectl plugin, krew manifest, SBOM,
#                       SHA256SUMS (docs/releases.md); make release-image
#   make bench-compare | bench-requests | bench-concurrent | soak | fault-matrix
#                       measurements on the local cluster (BENCHMARKS.md)
#   make two-node       the two-node suite (a second node joins the local cluster)
#   make cluster-up | cluster-down | cluster-status

GO        ?= go
BIN       := bin/kbrun
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/kbrun/kbrun/cmd/kbrun/app.Version=$(VERSION)
CLUSTER   := test/cluster
KUBECONFIG_LOCAL := /var/lib/kbrun-cluster/kubeconfig

.PHONY: build schema test test-unit test-editor yls chromium test-browser test-cluster test-integration test-e2e bench bench-compare \
        bench-requests bench-concurrent soak release release-check release-image userns-matrix capabilities-matrix fault-matrix two-node measure-exec fuzz demo cluster-up cluster-down cluster-status vet fmt

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kbrun

# A release (docs/releases.md): static binaries for RELEASE_PLATFORMS with
# VERSION stamped in, each also as kubectl-kbrun (a hard link: the same
# binary) with its krew archive, the krew manifest (checked with krew's own
# validator), a CycloneDX SBOM of the module graph and SHA256SUMS, all in
# DIST. Reproducible: no paths, build IDs, VCS state or times go in, which
# make release-check verifies by building twice. The tools are pinned in
# test/tools/release/go.mod, out of kbrun's own dependencies.
DIST              ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
RELEASE_URL       ?= https://github.com/kbrun/kbrun/releases/download/$(VERSION)
RELEASE_BUILD     := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '-s -w -buildid= $(LDFLAGS)'

release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(RELEASE_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		echo "== kbrun $(VERSION) $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_BUILD) -o $(DIST)/kbrun-$$os-$$arch ./cmd/kbrun; \
		ln $(DIST)/kbrun-$$os-$$arch $(DIST)/kubectl-kbrun-$$os-$$arch; \
	done
	$(GO) build -C test/tools/release -o $(CURDIR)/bin/ github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod sigs.k8s.io/krew/cmd/validate-krew-manifest
	bin/cyclonedx-gomod mod -json -noserial -notimestamp -output $(DIST)/kbrun.cdx.json .
	$(GO) run ./test/release -dist $(DIST) -version $(VERSION) -url $(RELEASE_URL)
	@out=$$(bin/validate-krew-manifest -manifest $(DIST)/kbrun.yaml -skip-install 2>&1) || { echo "$$out"; exit 1; }; \
		echo "krew's validate-krew-manifest: $(DIST)/kbrun.yaml is valid"
	@cd $(DIST) && sha256sum -c --quiet SHA256SUMS && cat SHA256SUMS
	@echo "== the image of the same version (needs a cluster): make release-image VERSION=$(VERSION), which runs"
	@echo "   $(RELEASE_IMAGE_RUN)"

# Two releases of the same commit, the second from a copy of the tree
# elsewhere with an empty build cache, must have the same SHA256SUMS
# (RELEASE_PLATFORMS narrows it: a cold build of all four takes a while).
release-check:
	RELEASE_PLATFORMS='$(RELEASE_PLATFORMS)' VERSION=$(VERSION) test/release/reproducible.sh

# kbrun's image (pipelines/kbrun-image.yaml) tagged VERSION, pushed to the
# local cluster's registry (brought up if needed, like make test).
RELEASE_IMAGE_RUN = $(BIN) run pipelines/kbrun-image.yaml --set version=$(VERSION) --set imageTag=$(VERSION)
release-image: build
	$(CLUSTER)/with-cluster.sh sh -c '$(RELEASE_IMAGE_RUN) --kubeconfig "$$KBRUN_TEST_KUBECONFIG"'

# Regenerate the committed schema (a unit test fails when it is stale).
schema: build
	$(BIN) schema > schemas/pipeline.schema.json

# gofmt, go vet and staticcheck over every build tag the suites use, and
# over the nested modules.
# staticcheck's version is pinned in test/tools/go.mod (built from the Go
# module proxy, kept in the Go build cache).
VET_TAGS    := integration,e2e,editor,matrix,measure,capmatrix,faultmatrix,twonode,builders
STATICCHECK := bin/staticcheck
# The repository's other Go modules (programs the pipelines build, the
# cluster harness), which ./... does not reach.
NESTED_MODULES := pipelines/kaniko-rootless pipelines/buildtools test/cluster

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet -tags $(VET_TAGS) ./...
	$(GO) build -C test/tools -o $(CURDIR)/$(STATICCHECK) honnef.co/go/tools/cmd/staticcheck
	$(STATICCHECK) -tags $(VET_TAGS) ./...
	@for m in $(NESTED_MODULES); do echo "== $$m"; (cd $$m && $(GO) vet -tags browser ./... && $(CURDIR)/$(STATICCHECK) -tags browser ./...) || exit 1; done

# The README's test command: unit tests, then the cluster suites on a real
# cluster, then a check that teardown left the machine clean.
test: vet test-unit test-editor test-browser
	@if [ -n "$$KBRUN_TEST_KUBECONFIG" ] || $(CLUSTER)/status.sh >/dev/null 2>&1; then \
		echo "== using the running cluster (left running)"; \
		$(CLUSTER)/with-cluster.sh $(MAKE) --no-print-directory test-cluster; \
	else \
		echo "== bringing the local cluster up for the cluster suites"; \
		$(CLUSTER)/with-cluster.sh $(MAKE) --no-print-directory test-cluster && \
		$(CLUSTER)/test-teardown.sh --check-only; \
	fi

test-unit:
	$(GO) test -count=1 ./...

# What an editor with yaml-language-server offers in pipeline files (uses,
# with, params, ...): the real server, installed with npm into the cache.
YLS_VERSION := 2.0.0
YLS_DIR     := $(or $(KBRUN_CACHE_DIR),/var/cache/kbrun)/yls-$(YLS_VERSION)
YLS         := $(YLS_DIR)/node_modules/.bin/yaml-language-server

yls:
	@test -x $(YLS) || { mkdir -p $(YLS_DIR) && cd $(YLS_DIR) && npm install --no-audit --no-fund --silent yaml-language-server@$(YLS_VERSION); }

test-editor: yls
	KBRUN_YLS=$(YLS) $(GO) test -count=1 -tags editor ./schemas/

# The capability matrix's HTML page (matrixreport -html) in headless
# Chromium, Debian's package, installed when missing (about 30 s).
chromium:
	@command -v chromium >/dev/null || apt-get install -y chromium

test-browser: chromium
	cd pipelines/buildtools && $(GO) test -count=1 -tags browser -run InChromium ./matrixreport/

# Needs KBRUN_TEST_KUBECONFIG (with-cluster.sh sets it).
test-cluster: test-integration test-e2e
	$(CLUSTER)/test.sh

test-integration:
	@test -n "$$KBRUN_TEST_KUBECONFIG" || { echo "FAIL: KBRUN_TEST_KUBECONFIG is not set (use make test, or test/cluster/up.sh and export it)"; exit 1; }
	$(GO) test -count=1 -tags integration -timeout 30m ./test/integration/...

test-e2e:
	@test -n "$$KBRUN_TEST_KUBECONFIG" || { echo "FAIL: KBRUN_TEST_KUBECONFIG is not set (use make test, or test/cluster/up.sh and export it)"; exit 1; }
	$(GO) test -count=1 -tags e2e -timeout 60m ./test/e2e/...

# Engine microbenchmarks (no cluster).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/... ./cmd/... ./tasks/internal/expect/

# kbrun vs the kubectl script of the seed procedure, N alternating runs on the
# local cluster (brought up if needed, like make test); writes bench-results.md.
BENCH_RUNS ?= 9
bench-compare:
	$(CLUSTER)/with-cluster.sh $(GO) run ./test/bench -n $(BENCH_RUNS) -o bench-results.md

# Which builds the default pipeline's builder can do, by Dockerfile kind,
# capabilities and user namespace, with Pod Security levels (24 runs on the
# local cluster, brought up if needed): the table in pipelines/README.md.
userns-matrix:
	KBRUN_MATRIX_OUT=$(CURDIR)/userns-matrix.md $(CLUSTER)/with-cluster.sh $(GO) test -count=1 -tags 'e2e matrix' -timeout 60m -run TestCapabilityMatrix -v ./test/e2e/

# pipelines/kaniko-capabilities.yaml's whole matrix (every default privilege
# set, rootless BuildKit's included, x every Dockerfile kind) once with each
# Kaniko build the cluster has (upstream's v1.24.0, the chainguard-dev fork's
# v1.25.5), and one default-pipeline run for comparison, on the local cluster
# (brought up if needed; test/cluster/builders.sh builds and imports those
# builders' images first): the tables in pipelines/README.md and the times in
# BENCHMARKS.md, written to capabilities-matrix.md.
capabilities-matrix:
	KBRUN_CAPS_OUT=$(CURDIR)/capabilities-matrix.md $(CLUSTER)/with-cluster.sh sh -c '$(CLUSTER)/builders.sh && $(GO) test -count=1 -tags e2e,capmatrix -timeout 60m -run "TestKanikoCapabilitiesFull|TestLeastPrivilegeBuildKitRung" -v ./test/e2e/'

# The default pipeline with each control-plane and node fault of
# test/cluster/fault.sh at each measured point (issue 32), on the local
# cluster (brought up if needed): rows for BENCHMARKS.md in fault-matrix.md.
# The cut form (3 faults) is TestControlPlaneFaults in test-e2e.
fault-matrix:
	KBRUN_FAULT_OUT=$(CURDIR)/fault-matrix.md $(CLUSTER)/with-cluster.sh $(GO) test -count=1 -tags 'e2e faultmatrix' -timeout 60m -run TestFaultMatrix -v ./test/e2e/

# The two-node suite (issue 32): a second node (test/cluster/node2.sh: its own
# containerd, kubelet and kube-proxy in a network namespace) joins the local
# cluster (brought up if needed); the default pipeline runs with its pods on
# either node: the localhost registry trap, the registryProxy mode, a node
# drained during a rollout. The second node is removed after, whatever the outcome.
two-node:
	$(CLUSTER)/with-cluster.sh sh -c '$(CLUSTER)/node2.sh up && $(GO) test -count=1 -tags "e2e twonode" -timeout 40m -run TestTwoNodes -v ./test/e2e/; rc=$$?; $(CLUSTER)/node2.sh down || rc=1; exit $$rc'

# client-go's exec streams measured on the local cluster (races in code kbrun
# does not own, counted rather than asserted; figures in BENCHMARKS.md).
measure-exec:
	$(CLUSTER)/with-cluster.sh $(GO) test -count=1 -tags 'integration measure' -timeout 30m -run '^TestMeasure|^TestClientGo' -v ./test/integration/

# Requests each side sends to the API server, by kind, through
# test/faultproxy (faults off); writes bench-requests.md.
bench-requests:
	$(CLUSTER)/with-cluster.sh $(GO) run ./test/bench -requests -n $(BENCH_RUNS) -o bench-requests.md

# One run alone against CONCURRENT_RUNS at once in as many namespaces, then 5
# at once in one namespace; wall times, requests per run, CPU by component;
# writes bench-concurrent.md.
CONCURRENT_RUNS ?= 10
bench-concurrent:
	$(CLUSTER)/with-cluster.sh $(GO) run ./test/bench -concurrent $(CONCURRENT_RUNS) -shared 5 -o bench-concurrent.md

# SOAK_RUNS consecutive runs of the default pipeline: failures, peak RSS per
# run, and what is left in the cluster and on the machine before and after;
# writes soak-results.md (about 7 s a run).
SOAK_RUNS ?= 200
soak:
	$(CLUSTER)/with-cluster.sh $(GO) run ./test/soak -n $(SOAK_RUNS) -o soak-results.md

# Long fuzz runs (not part of make test): FUZZTIME=10m make fuzz
FUZZTIME ?= 1m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./engine/load
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime $(FUZZTIME) ./engine/tmpl
	$(GO) test -run '^$$' -fuzz FuzzUnpack -fuzztime $(FUZZTIME) ./tasks/copy
	$(GO) test -run '^$$' -fuzz FuzzSprigOverSecret -fuzztime $(FUZZTIME) ./engine/prepare

# Run the default pipeline on the project's local cluster (brought up if needed;
# left running afterwards: make cluster-down stops it).
demo: build cluster-up
	$(BIN) run pipelines/kaniko-rootless.yaml --kubeconfig $(KUBECONFIG_LOCAL)

cluster-up:
	$(CLUSTER)/up.sh

cluster-down:
	$(CLUSTER)/down.sh

cluster-status:
	$(CLUSTER)/status.sh
