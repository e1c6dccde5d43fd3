# GoAuthenNTLM. Start here:
#   make demo     a DC, the authorizer and Apache on loopback; prints a curl to try
#   make test     everything CI runs: unit tests, fuzz seeds, integration and e2e
# The stacks need root (a Samba AD DC) and Debian 12 (scripts/deps.sh).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(PATH):/usr/local/go/bin

GO        ?= go
FUZZTIME  ?= 30s
PKGS      := ./pkg/... ./cmd/...
STACK     := scripts/stack.sh

DEMO_DIR  := .stack/demo
DEMO_IP   := 127.0.0.10
# The demo DC's scripts/dc.sh profile: default, hardened or ntlm-disabled
# (e.g. make demo DEMO_DC_PROFILE=hardened).
DEMO_DC_PROFILE ?=
TEST_DIR  := .stack/test
TEST_IP   := 127.0.0.11
TEST_ABS  := $(CURDIR)/$(TEST_DIR)
# short, so that e2e can see a group removal take effect
TEST_GROUPS_TTL := 30s
# A second stack, whose DC is hardened as current Windows domains are
# (scripts/dc.sh profile "hardened"). The core e2e tests run against it too,
# and its DC is the second DC of the failover test. Its address is TEST_IP's
# last number plus one, so that runs with different TEST_IPs never collide.
TEST2_DIR := .stack/test-hardened
TEST_IP2  := $(shell echo '$(TEST_IP)' | awk -F. '{ printf "%s.%s.%s.%d", $$1, $$2, $$3, $$4 + 1 }')
TEST2_ABS := $(CURDIR)/$(TEST2_DIR)
E2E_CORE  := ^(TestHardenedDC|TestKerberosStack|TestCurlNTLM|TestNoCredentialsChallenges|TestAnonymousRefused|TestBasic|TestGroupMatrix|TestNTLMBlocked)$$

# -race needs cgo and a C compiler; without them the tests run without it.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED 2>/dev/null)" = 1 ] && command -v "$$($(GO) env CC 2>/dev/null || echo gcc)" >/dev/null 2>&1 && echo -race)

# What the package integration tests (pkg/dc, pkg/adgroup) and the e2e tests
# need to find the test stack's DC and Apache.
TEST_ENV := GOAUTHENNTLM_STACK=$(TEST_ABS)/stack.env \
	GOAUTHENNTLM_TEST_DC=$(TEST_IP):445 \
	GOAUTHENNTLM_TEST_LDAP=ldaps://$(TEST_IP) \
	GOAUTHENNTLM_TEST_LDAP_CA=$(TEST_ABS)/dc/tls/ca.pem \
	GOAUTHENNTLM_TEST_LDAP_BIND=svc-ntlm@EXAMPLE.TEST \
	GOAUTHENNTLM_TEST_LDAP_PASSFILE=$(TEST_ABS)/dc/svc-ntlm.pass \
	GOAUTHENNTLM_TEST_SMBCONF=$(TEST_ABS)/dc/etc/smb.conf \
	GOAUTHENNTLM_TEST_DC2=$(TEST_IP2):445
TEST2_ENV := GOAUTHENNTLM_STACK=$(TEST2_ABS)/stack.env
# The cluster stack of the tests (scripts/cluster.sh): HAProxy and two
# Apache + authorizer nodes on the test stack's DC, ports on 127.0.0.1.
CLUSTER_DIR := .stack/test-cluster
CLUSTER_ABS := $(CURDIR)/$(CLUSTER_DIR)
CLUSTER_UP  := STACK_LOG_LEVEL=debug STACK_DC_DIR=$(TEST_ABS)/dc bash scripts/cluster.sh up $(CLUSTER_DIR) $(TEST_IP)
TEST_ENV += GOAUTHENNTLM_CLUSTER=$(CLUSTER_ABS)/stack.env
# make demo-cluster: its own DC.
DEMO_CLUSTER_DIR := .stack/demo-cluster
DEMO_CLUSTER_IP  := 127.0.0.14
# Both test stacks up (or started again): stack.sh up DIR IP for each.
TEST_UP  := STACK_LOG_LEVEL=debug STACK_GROUPS_TTL=$(TEST_GROUPS_TTL) bash $(STACK) up $(TEST_DIR) $(TEST_IP)
# The hardened stack runs the core tests only: no user in 1,000 groups.
TEST2_UP := STACK_LOG_LEVEL=debug STACK_GROUPS_TTL=$(TEST_GROUPS_TTL) STACK_DC_PROFILE=hardened STACK_MANY_GROUPS=0 bash $(STACK) up $(TEST2_DIR) $(TEST_IP2)

.PHONY: all build install deb deps demo demo-down demo-cluster demo-cluster-down test unit vet fuzz fuzz-seeds e2e e2e-up e2e-down bench soak clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# Binaries, docs (what the unit's Documentation= names), the systemd unit,
# the Apache snippet, the service user, /etc/goauthenntlm with conf.toml and
# the caller secret, and the groups cache: scripts/install.sh, which never
# replaces a config or a secret. DESTDIR for packaging. What is left to the
# administrator: README "Install".
PREFIX ?= /usr/local
install: build
	DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' bash scripts/install.sh

# Debian packages, goauthenntlm_<version>_<arch>.deb for amd64 and arm64
# (DEB_ARCHES), version from git describe: scripts/deb.sh. Reproducible:
# two runs on the same commit give the same bytes.
deb:
	bash scripts/deb.sh

deps:
	bash $(STACK) deps

demo:
	STACK_DC_PROFILE=$(DEMO_DC_PROFILE) bash $(STACK) up $(DEMO_DIR) $(DEMO_IP)
	@echo
	@echo "Demo running. Stop it with: make demo-down"

demo-down:
	bash $(STACK) down $(DEMO_DIR)

# HAProxy in front of two Apache + authorizer nodes (README "Load balancers").
demo-cluster:
	bash scripts/cluster.sh up $(DEMO_CLUSTER_DIR) $(DEMO_CLUSTER_IP)
	@echo
	@echo "Cluster demo running. Stop it with: make demo-cluster-down"

demo-cluster-down:
	bash scripts/cluster.sh down $(DEMO_CLUSTER_DIR)

# The module must build beyond Linux (the stack and the TCP_CORK tuning
# are Linux-only, the packages are not).
PORTABLE = GOOS=darwin $(GO) build ./... && GOOS=freebsd $(GO) build ./... && GOOS=windows $(GO) vet ./...
# gofmt -l lists the files that are not formatted; any is a failure.
GOFMT_CHECK = unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.stack/*')); \
	[ -z "$$unformatted" ] || { echo "gofmt: not formatted: $$unformatted"; false; }

vet:
	$(GO) vet ./...
	$(PORTABLE)
	@$(GOFMT_CHECK)

# Unit tests (short). Integration tests run too when the GOAUTHENNTLM_TEST_*
# variables point at a DC, as in make test.
unit: vet
	$(GO) test $(RACE) -short -count=1 -timeout 10m $(PKGS)

# Fuzz each Fuzz* target for FUZZTIME (plain go test already runs the seeds).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

# The seed corpora alone (also part of make unit / make test).
fuzz-seeds:
	$(GO) test -count=1 -run '^Fuzz' $(PKGS)

# Everything, on a fresh stack that is always torn down afterwards.
test:
	@rc=0; \
	trap 'echo "== tearing down the test stacks"; bash scripts/cluster.sh down $(CLUSTER_DIR) || true; bash $(STACK) down $(TEST_DIR) || true; bash $(STACK) down $(TEST2_DIR) || true' EXIT; \
	echo "== dependencies"; bash $(STACK) deps; \
	bash $(STACK) down $(TEST_DIR) >/dev/null 2>&1 || true; \
	bash $(STACK) down $(TEST2_DIR) >/dev/null 2>&1 || true; \
	bash scripts/cluster.sh down $(CLUSTER_DIR) >/dev/null 2>&1 || true; \
	echo "== test stack ($(TEST_DIR), DC on $(TEST_IP))"; \
	$(TEST_UP) || { echo "FAIL: the test stack did not come up"; exit 1; }; \
	echo "== hardened test stack ($(TEST2_DIR), DC on $(TEST_IP2))"; \
	$(TEST2_UP) || { echo "FAIL: the hardened test stack did not come up"; exit 1; }; \
	echo "== cluster stack ($(CLUSTER_DIR): HAProxy, two nodes on the test stack's DC)"; \
	$(CLUSTER_UP) || { echo "FAIL: the cluster stack did not come up"; exit 1; }; \
	echo "== vet"; $(GO) vet ./... || rc=1; $(PORTABLE) || rc=1; $(GOFMT_CHECK) || rc=1; \
	echo "== unit, integration and fuzz seed tests$(if $(RACE),, (no -race: cgo or a C compiler missing))"; \
	$(TEST_ENV) $(GO) test $(RACE) -count=1 -timeout 12m $(PKGS) || rc=1; \
	echo "== e2e"; \
	$(TEST_ENV) $(GO) test -count=1 -v -timeout 10m ./test/e2e/... || rc=1; \
	echo "== Debian package: make deb, apt-get install, upgrade, remove, purge (on this system)"; \
	GOAUTHENNTLM_TEST_DEB=1 $(TEST_ENV) $(GO) test -count=1 -v -timeout 20m -run '^TestDebPackage$$' ./test/e2e/ || rc=1; \
	echo "== e2e core against the hardened DC"; \
	$(TEST2_ENV) $(GO) test -count=1 -v -timeout 5m -run '$(E2E_CORE)' ./test/e2e/... || rc=1; \
	if [ $$rc != 0 ]; then \
		echo "== FAIL; last lines of the stacks' logs:"; \
		tail -n 40 $(TEST_DIR)/authorizer.log $(TEST_DIR)/apache/error.log \
			$(TEST2_DIR)/authorizer.log $(TEST2_DIR)/apache/error.log \
			$(CLUSTER_DIR)/node1/authorizer.log $(CLUSTER_DIR)/node2/authorizer.log $(CLUSTER_DIR)/haproxy/haproxy.log 2>/dev/null || true; \
		exit 1; \
	fi; \
	echo "== make test: PASS"

# e2e alone against the stacks brought up (and left running) by make e2e-up.
e2e-up:
	$(TEST_UP)
	$(TEST2_UP)
	$(CLUSTER_UP)

e2e: e2e-up
	$(TEST_ENV) $(GO) test -count=1 -v -timeout 10m ./test/e2e/...
	$(TEST2_ENV) $(GO) test -count=1 -v -timeout 5m -run '$(E2E_CORE)' ./test/e2e/...

e2e-down:
	bash scripts/cluster.sh down $(CLUSTER_DIR)
	bash $(STACK) down $(TEST_DIR)
	bash $(STACK) down $(TEST2_DIR)

# Benchmarks (not tests): ratios measured side by side on one stack, printed
# as a table and written to bench/out/results.json. BENCH_ARGS, e.g.
# BENCH_ARGS="-only p1 -rounds 5". See bench/README.md.
bench:
	$(GO) run ./bench/cmd/bench $(BENCH_ARGS)

soak:
	$(GO) run ./soak $(SOAK_ARGS)

clean:
	-bash $(STACK) down $(DEMO_DIR)
	-bash $(STACK) down $(TEST_DIR)
	-bash $(STACK) down $(TEST2_DIR)
	rm -rf bin .stack
