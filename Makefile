# meltap: two commands do everything on a fresh Debian 12 machine with the Swift toolchain.
#   make demo   installs what is needed and runs the demo
#   make test   installs what is needed and runs every test (CI runs this)
SWIFT ?= swift

.PHONY: deps demo test build release lib wheel deb bench bench-peers bench-dataset bench-realtime clean

deps:
	./scripts/install-deps

release: deps
	$(SWIFT) build -c release

# libmeltap.so (include/meltap.h) and its meltap.pc, in .build/meltap-lib/lib.
lib: deps
	./scripts/build-lib

# The Python package as a manylinux wheel in .build/wheel/: libmeltap and the C libraries it needs
# bundled (python/_build/meltap_build.py), checked and tagged by auditwheel (scripts/build-wheel).
# `pip install ./python` does the same build and installs it.
wheel: deps
	./scripts/build-wheel

# meltap_<version>_amd64.deb in .build/deb/: the binary with the Swift runtime linked statically,
# man pages, completions and the systemd user unit (scripts/make-deb; scripts/check-deb installs it
# into a throwaway root). `apt-get install ./.build/deb/meltap_*.deb` on a Debian 12 box.
deb: deps
	./scripts/make-deb

# The demo draws its pictures with Examples/specshow.py, which imports the Python package (python/):
# that loads libmeltap, hence lib.
demo: release lib
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
