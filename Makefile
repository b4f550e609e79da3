# The two commands of the quick start are `make run` and `make test`.
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

# Every go command here builds with the service's build tags
# (internal/testkit/testrig/proc.BuildTags): nomsgpack leaves gin's
# MessagePack codec, which the service never uses, out of the binary.
export GOFLAGS := $(strip $(GOFLAGS) -tags=nomsgpack)

.PHONY: run test lint openapi-lint vulncheck build services bench fuzz

## run: start PostgreSQL and Redis if needed, migrate, seed demo lists, run everything
run:
	@scripts/run.sh

## test: start PostgreSQL and Redis and install Chromium if needed, then run
## every test (race detector on); browser screenshots land in test-output/.
## The whole-system tests (internal/app) run alone first: the real workers
## they start, beside another package's tests, took more than PostgreSQL's
## default 100 connections.
test:
	@scripts/services.sh email_alert_test
	@scripts/chromium.sh
	go test -race -count=1 ./internal/app/
	go test -race -count=1 $$(go list ./... | grep -v '^email-alert/internal/app$$')

## lint: gofmt, go vet, golangci-lint (.golangci.yml) and openapi-lint
lint: openapi-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(GOLANGCI_LINT) run ./...

## openapi-lint: Redocly CLI, pinned in tools/openapi-lint/package-lock.json
## (installed by npm ci on first use; offline afterwards), with redocly.yaml's rules
openapi-lint:
	@cd tools/openapi-lint && { [ -x node_modules/.bin/redocly ] || npm ci --no-audit --no-fund; }
	cd tools/openapi-lint && npx --no-install redocly lint --config ../../redocly.yaml ../../openapi.yaml

## vulncheck: govulncheck against the project's copy of the Go vulnerability
## database (internal/tools/vulndb/osv: vuln.go.dev cannot be reached from here).
## Refresh the copy with `go run ./internal/tools/vulndb -from <golang/vulndb checkout>`.
VULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.1.4
vulncheck:
	@cat internal/tools/vulndb/SNAPSHOT
	go run $(VULNCHECK) -db file://$(CURDIR)/internal/tools/vulndb/osv ./...

## build: build bin/email-alert
build:
	CGO_ENABLED=0 go build -o bin/ ./cmd/...

## services: start PostgreSQL and Redis, create the databases
services:
	@scripts/services.sh email_alert email_alert_test

## bench: seed 1M subscribers and measure the service against pgbench; writes BENCHMARKS.md
bench:
	@scripts/services.sh email_alert
	go run ./internal/tools/bench

FUZZTIME ?= 30s
FUZZ_TARGETS := subscribers:FuzzNormalizeAddress linking/magiclink:FuzzCheckDestination events:FuzzVerifySET jsonapi:FuzzDecode

## fuzz: run each fuzz target for FUZZTIME (corpora in each package's testdata/fuzz);
## scripts/fuzz.sh says which toolchain failure it does not count
fuzz:
	@scripts/services.sh email_alert_test
	@scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)
