# Thin wrapper over CMake. `make demo` and `make test` set up a fresh Debian machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PACKAGES := cmake g++ make pkg-config git libgit2-dev libyaml-cpp-dev libsqlite3-dev \
            libcli11-dev catch2 nlohmann-json3-dev libcpp-httplib-dev
# What the tests use besides: signing keys (gpg, ssh-keygen), mount namespaces (unshare).
TEST_PACKAGES := gnupg openssh-client util-linux

.PHONY: all deps configure build test demo bench clean node-packages
all: build

deps:
	@.ci/install-deps $(PACKAGES)

# The developer build keeps debug info; CI adds WERROR=ON (warnings as errors).
BUILD_TYPE ?= RelWithDebInfo
WERROR ?= OFF
configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTRACKER_WERROR=$(WERROR) > $(BUILD_DIR).cmake.log 2>&1 || (cat $(BUILD_DIR).cmake.log; exit 1)

# The binary alone: what `make demo` needs.
build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target tracker

test: configure
	@.ci/install-deps $(TEST_PACKAGES)
	@$(MAKE) --no-print-directory node-packages
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The npm packages of the client tests, pinned by their package-lock.json: the
# MCP SDK's client (tests/mcp) and puppeteer-core (tests/web). Only where npm is;
# without it those tests say they were skipped.
node-packages:
	@if ! command -v npm > /dev/null 2>&1; then \
	  echo "npm not found: the MCP client and browser tests will be skipped (apt-get install nodejs npm)"; \
	else for d in tests/mcp tests/web; do \
	  [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] || \
	    (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done; fi

demo: build
	TRACKER=$(abspath $(BUILD_DIR))/tracker examples/demo.sh

bench: build
	@.ci/install-deps ripgrep
	TRACKER=$(abspath $(BUILD_DIR))/tracker bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).cmake.log
