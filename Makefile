# Gigafactory. `make test` installs what the tests need (Debian packages for
# PostgreSQL and Slurm) and runs every test; `make run` serves the embedded
# default.
GO ?= go

.PHONY: build run test test-short vet fmt bench
build:
	$(GO) build -o bin/gf ./cmd/gf

run:
	$(GO) run ./cmd/gf serve

test:
	bash scripts/test.sh

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal)" || (gofmt -l cmd internal; exit 1)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
