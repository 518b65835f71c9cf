# mediabot — the two commands a new user needs are `make demo` and `make test`.
# Both install what is missing first (Debian/Ubuntu: libopus-dev, pkg-config, gcc).

export PATH := $(PATH):/usr/local/go/bin
GO       ?= go
TAGS     := nolibopusfile
APT_PKGS := libopus-dev pkg-config gcc opus-tools
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build demo demo-join test bench fuzz vet clean

all: build

# deps installs the C toolchain and libopus when they are missing.
deps:
	@command -v $(GO) >/dev/null || { echo "Go is not installed (want Go 1.26 or later: https://go.dev/dl)"; exit 1; }
	@if ! pkg-config --exists opus 2>/dev/null || ! command -v gcc >/dev/null; then \
		echo "installing $(APT_PKGS) ..."; \
		command -v apt-get >/dev/null || { echo "no apt-get: install libopus (dev files), pkg-config and gcc yourself"; exit 1; }; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PKGS); \
	fi

build: deps
	$(GO) build -tags $(TAGS) -o bin/mediabot ./cmd/mediabot
	$(GO) build -tags $(TAGS) -o bin/graphsim ./cmd/graphsim

# demo: the bot and graphsim on loopback, one call with 3 speakers for 10 s.
demo: build
	./bin/mediabot demo

# demo-join: the same, but the bot joins a meeting graphsim hosts, by its
# join link, through the operator API (as `mediabot join` does).
demo-join: build
	./bin/mediabot demo --join

test: deps
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 14m ./...

bench: deps
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...

vet: deps
	$(GO) vet -tags $(TAGS) ./...

clean:
	rm -rf bin
