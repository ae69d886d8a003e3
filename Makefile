# runcri: the human entry points. Run as root on Debian/Ubuntu.
#   make run      install what is missing, build, start the daemon in the foreground
#   make test     install what is missing, build, run the whole test suite
#   make bench    install what is missing, build, run the benchmarks
#   make install  put runcri in /usr/local, with a systemd unit and a commented default config

PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib/runcri
CONFIG_DIR  ?= /etc/runcri
CNI_CONF_DIR ?= /etc/cni/net.d
SYSTEMD_DIR ?= /etc/systemd/system

# What the daemon needs on a node, and what the tests add (a registry, static binaries for images).
RUNTIME_PACKAGES := runc crun conmon criu containernetworking-plugins catatonit iptables iproute2 util-linux procps attr zstd gcc libc6-dev
TEST_PACKAGES    := docker-registry busybox-static socat openssl curl \
                    golang-go golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev

# The Go client the streaming interop tests run against the daemon: the Kubernetes streaming
# protocols through Go's own SPDY and WebSocket libraries. Built offline, GOPATH-style, from
# Debian's Go packages; nothing comes from a module proxy.
GO           ?= /usr/bin/go
STREAMCLIENT := .build/interop/streamclient

.PHONY: all deps test-deps node-check build run test bench install uninstall clean default-network

all: build

node-check:
	@command -v node >/dev/null 2>&1 || { echo "runcri needs Node.js >= 20 (node not found)"; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 10)) { console.error("runcri needs Node.js >= 20.10, found " + process.versions.node); process.exit(1) }'

# Installs only the Debian packages that are missing, so a prepared machine does no apt work.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps: node-check
	$(call apt_install,$(RUNTIME_PACKAGES))
	@# npm install, not npm ci: node-unix-socket lists platform packages the registry does not
	@# have, which npm ci counts as a lock mismatch; npm install still follows the lock.
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm install --no-audit --no-fund; fi

test-deps: deps
	$(call apt_install,$(TEST_PACKAGES))

# Helpers for what Node.js cannot do itself: ID-mapped mounts, a terminal for `exec --tty`,
# mount(2) and umount2(2) calls without a mount(8) per call, programs started without a fork of
# the daemon, and (an addon) mknod(2) and lsetxattr(2) for layer unpacks.
NATIVE := native/idmap-mount native/pty-exec native/mount-helper native/spawn-helper native/fs-calls.node
# Node-API's headers, which Debian's nodejs package installs with the binary.
NODE_INCLUDE ?= $(dir $(shell command -v node))../include/node

build: deps $(NATIVE)
	npm run build

native/%: native/%.c
	$(CC) -O2 -Wall -Wextra -o $@ $<

native/fs-calls.node: native/fs-calls.c
	$(CC) -O2 -Wall -Wextra -shared -fPIC -I$(NODE_INCLUDE) -o $@ $<

# The default pod network, only where the operator has none.
default-network:
	@mkdir -p $(CNI_CONF_DIR)
	@if ! ls $(CNI_CONF_DIR) 2>/dev/null | grep -qE '\.(conflist|conf|json)$$'; then \
	  install -m 0644 bundles/cni/10-runcri-bridge.conflist $(CNI_CONF_DIR)/10-runcri-bridge.conflist; \
	  echo "installed the default pod network $(CNI_CONF_DIR)/10-runcri-bridge.conflist"; \
	fi

run: build default-network
	./bin/runcri serve

test: test-deps $(NATIVE) $(STREAMCLIENT)
	npm test

$(STREAMCLIENT): $(wildcard test/interop/streamclient/*.go)
	@mkdir -p $(@D)
	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE=$(CURDIR)/.build/go-cache \
	  $(GO) build -o $@ ./test/interop/streamclient

bench: test-deps $(NATIVE)
	npm run bench

install: build default-network
	rm -rf $(LIBDIR)
	mkdir -p $(LIBDIR) $(PREFIX)/bin $(CONFIG_DIR)
	cp -r dist node_modules package.json package-lock.json protos bundles bin native $(LIBDIR)/
	cd $(LIBDIR) && npm prune --omit=dev --no-audit --no-fund >/dev/null
	ln -sf $(LIBDIR)/bin/runcri $(PREFIX)/bin/runcri
	@if [ ! -e $(CONFIG_DIR)/runcri.toml ]; then \
	  { echo "# runcri configuration. Every setting below is the built-in default;"; \
	    echo "# uncomment and change what you need. 'runcri config' prints the effective one."; \
	    ./bin/runcri config --config /dev/null | sed -e 's/^\([^[]\)/# \1/' -e 's/^\[/# [/'; } > $(CONFIG_DIR)/runcri.toml; \
	  echo "wrote $(CONFIG_DIR)/runcri.toml"; \
	fi
	mkdir -p $(SYSTEMD_DIR)
	sed 's#@BINDIR@#$(PREFIX)/bin#' bundles/systemd/runcri.service > $(SYSTEMD_DIR)/runcri.service
	@echo "wrote $(SYSTEMD_DIR)/runcri.service (systemctl daemon-reload && systemctl enable --now runcri)"

uninstall:
	rm -rf $(LIBDIR) $(PREFIX)/bin/runcri $(SYSTEMD_DIR)/runcri.service

clean:
	rm -rf dist .build lib/generated $(NATIVE)
