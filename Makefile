# The two commands a newcomer needs are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
CARGO ?= cargo
# Versions the tests ask real API servers to report; linked once, up front, so tests do not wait.
TEST_VERSIONS := v1.29.3-eks-adc7111 v1.18.20 v1.35.0

.PHONY: test build deps lint judges image unit crd demo demo-down bench

## Everything CI runs: install, build, lint, then every test on real control planes.
test: deps build lint judges image
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  PATH="$$(dirname "$$(hack/kube-bins.sh kubectl)"):$$PATH" $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  PATH="$$(dirname "$$(hack/kube-bins.sh kubectl)"):$$PATH" $(CARGO) test --workspace --no-fail-fast; \
	fi

## Kubernetes binaries from Debian's source package (first run on a machine: about 5 minutes).
deps:
	@bash hack/kube-bins.sh base >/dev/null
	@bash hack/kube-bins.sh kubectl >/dev/null
	@for v in $(TEST_VERSIONS); do bash hack/kube-bins.sh apiserver $$v >/dev/null; done

## Every binary the demo and the tests run, built once, up front, by this one step (the tests
## never build one themselves; tests/tests/build_step.rs checks that this step produces them all).
build:
	$(CARGO) build --workspace --bins $(BUILD_FLAGS)
	$(CARGO) build -p extcluster-controller --bin extcluster-controller-faults --features fault-injection $(BUILD_FLAGS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The install manifests judged by kubernetes-validate --strict (Kubernetes 1.25-1.37) and checkov;
## accepted checkov findings, each with its reason, are in hack/checkov.yaml.
judges:
	@bash hack/judge-manifests.sh

## The webhook's and controller's OCI images, built without a container engine (buildah): one
## static binary each, non-root, OCI labels; writes target/image/ (archives, digests.txt, and
## install.yaml: manifests/ by digest) and prints the digests. tests/tests/image.rs runs them.
image: deps
	@bash hack/image.sh

## Pure unit tests only: no Kubernetes needed.
unit:
	$(CARGO) test -p extcluster-core -p extcluster-remote -p extcluster-webhook -p extcluster-controller -p kubectl-extcluster

## Regenerate manifests/crd.yaml from the Rust types (the ClusterProfile CRD is upstream's, vendored).
crd:
	$(CARGO) run -q -p extcluster-core --bin crdgen > manifests/crd.yaml

TOOLS := $(or $(EXTCLUSTER_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/extcluster)/tools

## Benchmarks: the webhook pinned to one core, wrk/oha on the other, instructions per review
## counted by callgrind; prints a table.
bench: deps
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
	@command -v oha >/dev/null || test -x $(TOOLS)/bin/oha || $(CARGO) install oha --locked --root $(TOOLS)
	$(CARGO) run --release -q -p extcluster-tools --bin bench -- $(BENCH_ARGS)

## The sandbox: a real hub and external clusters on loopback, webhook enforcing, and the story.
demo: deps build
	@bash hack/demo.sh

## Stop everything `make demo` started.
demo-down:
	@bash hack/demo.sh down
