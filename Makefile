# dfm: the two commands a new machine needs are `make train` and `make test`.
SWIFT ?= swift
RELEASE = -c release
PY ?= /usr/bin/python3

.PHONY: setup build test test-swift clean

setup:
	@bash tools/setup.sh

build: setup
	$(SWIFT) build $(RELEASE)

# Every test: Swift (release, @testable), C and Python suites.
test: setup
	$(SWIFT) build $(RELEASE)
	$(SWIFT) test $(RELEASE) -Xswiftc -enable-testing

clean:
	rm -rf .build
