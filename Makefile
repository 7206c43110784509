# The test command (make test) installs what the tests need, then runs
# every check CI runs. See README.md.

GO        ?= go
GOBIN     := $(shell $(GO) env GOPATH)/bin
FUZZTIME  ?= 30s

.PHONY: test deps fmt vet staticcheck unit crossbuild benchsmoke bench run fuzz slowhttp upgradeload

test: deps fmt vet staticcheck unit crossbuild benchsmoke

deps:
	./scripts/install-test-deps.sh

fmt:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) mod tidy -diff
	$(GO) vet ./...

staticcheck:
	$(GOBIN)/staticcheck ./...

# go test runs every fuzz target's seed corpus too.
unit:
	$(GO) test -race -timeout 8m ./...
	$(GO) test -count=1 -run 'Allocs' .

# Other platforms: builds and vets, and on 32-bit Linux (which runs here)
# the tests of sizes past 2 GiB, where int is 32 bits.
crossbuild:
	GOOS=linux $(GO) build ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=linux GOARCH=386 $(GO) vet ./...
	GOOS=linux GOARCH=386 $(GO) test -count=1 -run 'TestLargeFiles|TestHeadersFrameLimitAtLargeHeaderLimits' ./staticfiles ./internal/http3

# The benchmark suite is its own module; CI runs a one-second smoke of it so
# it cannot rot.
benchsmoke:
	cd bench && $(GO) mod tidy -diff && $(GO) vet ./... && $(GOBIN)/staticcheck ./... && $(GO) run ./cmd/suite -smoke >/dev/null

# The full comparison with net/http, fasthttp, h2o, nginx, grpc-go and quic-go
# (about 20 minutes; see README.md, Performance).
bench:
	cd bench && $(GO) run ./cmd/suite -json results.json | tee results.md

run:
	$(GO) run ./cmd/kestrel

# Fuzz every target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The long slow-client attack (500 connections, 60 s per mode).
slowhttp:
	./scripts/slowhttp.sh

# Ten binary upgrades in 30 s under wrk, with no error allowed.
upgradeload:
	./scripts/upgrade-under-load.sh
