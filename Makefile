# dfm: the two commands a new machine needs are `make train` and `make test`.
SWIFT ?= swift
RELEASE = -c release
PY ?= /usr/bin/python3

.PHONY: setup build test test-swift test-c test-python clean

setup:
	@bash tools/setup.sh

build: setup
	$(SWIFT) build $(RELEASE)

# Every test: Swift (release, @testable), C and Python suites.
test: setup test-c test-python
	$(SWIFT) build $(RELEASE)
	$(SWIFT) test $(RELEASE) -Xswiftc -enable-testing

# C ABI: libdfm.so (release), symbols vs Include/dfm.h, C tests under valgrind memcheck.
test-c: setup
	$(MAKE) -C bindings/c check SWIFT="$(SWIFT)"

# Python binding: libdfm.so (release), then pytest with the system python3 (+ python3-numpy).
test-python: setup
	$(SWIFT) build $(RELEASE) --product dfm
	DFM_LIBRARY=$$($(SWIFT) build $(RELEASE) --show-bin-path)/libdfm.so $(PY) -m pytest -q bindings/python/tests

clean:
	rm -rf .build
