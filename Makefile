# rotor: `make run` runs the demo on the embedded defaults, `make test` runs every test,
# `make bench` prints the benchmark figures. Each installs what it needs first.
SWIFT ?= swift

.PHONY: deps build run test bench bench-baseline chaos lambda release-check clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

run: build
	scripts/demo.sh

test: deps
	scripts/test.sh

bench: deps
	scripts/bench.sh

bench-baseline: deps
	scripts/bench-baseline.sh

chaos: deps
	scripts/chaos.sh

lambda: deps
	scripts/lambda.sh

release-check: deps
	scripts/release-check.sh

clean:
	rm -rf .build .rotor
