# meltap: two commands do everything on a fresh Debian 12 machine with the Swift toolchain.
#   make demo   installs what is needed and runs the demo
#   make test   installs what is needed and runs every test (CI runs this)
SWIFT ?= swift

.PHONY: deps demo test build release lib bench bench-peers bench-dataset bench-realtime clean

deps:
	./scripts/install-deps

release: deps
	$(SWIFT) build -c release

# libmeltap.so (include/meltap.h) and its meltap.pc, in .build/meltap-lib/lib.
lib: deps
	./scripts/build-lib

demo: release
	./scripts/demo

test: deps
	./scripts/test

bench: release
	.build/release/meltap-bench

bench-peers: release
	MELTAP_PEERS=1 ./scripts/install-deps
	./scripts/bench-peers

bench-dataset: release
	MELTAP_PEERS=1 ./scripts/install-deps
	./scripts/bench-dataset

bench-realtime: release
	./scripts/bench-realtime

clean:
	rm -rf .build .build-*
