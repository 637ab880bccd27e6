# dfm: the two commands a new machine needs are `make train` and `make test`.
SWIFT ?= swift
PY ?= /usr/bin/python3
# The main job and benchmarks use a plain release build; the tests add -enable-testing
# (for @testable), and every test suite shares that one build.
RELEASE = -c release
TESTFLAGS = -c release -Xswiftc -enable-testing
BIN = $$($(SWIFT) build $(TESTFLAGS) --show-bin-path)
# libdfm.so's soname is libdfm.so.<ABI major> (DFM_ABI_VERSION in Include/dfm.h): each build
# leaves that link next to it, so programs linked against the build folder start (SwiftPM
# itself only writes libdfm.so).
ABI_MAJOR := $(shell sed -n 's/^\#define DFM_ABI_VERSION \([0-9]*\)$$/\1/p' Include/dfm.h)
SONAME_LINK = ln -sf libdfm.so $$($(SWIFT) build $(1) --show-bin-path)/libdfm.so.$(ABI_MAJOR)

.PHONY: setup build train test test-swift test-c test-python test-kernels clean install test-install format lint

setup:
	@bash tools/setup.sh

build: setup
	$(SWIFT) build $(RELEASE)
	$(call SONAME_LINK,$(RELEASE))

# The main job: train DFM-ResNet18 on Fashion-MNIST (about three minutes on 2 cores),
# report test accuracy, write a checkpoint and a plot of the curves under runs/.
TRAIN_ARGS ?= --model resnet18 --T 3 --fb-filters 8 --epochs 1 --batch-size 64 --lr 2e-3 --train-subset 30000 \
	--checkpoint runs/fashion-resnet18.safetensors --plot runs/fashion-resnet18.png
train: setup
	$(SWIFT) build $(RELEASE) --product dfm-cli
	$$($(SWIFT) build $(RELEASE) --show-bin-path)/dfm-cli train $(TRAIN_ARGS)

# Every test: Swift (release, @testable; includes the CLI and Swift/C/Python parity tests),
# the C ABI (symbols vs header, C tests under valgrind memcheck, the C example) and Python.
test: setup
	$(SWIFT) build $(TESTFLAGS) --build-tests
	$(call SONAME_LINK,$(TESTFLAGS))
	$(MAKE) test-swift test-c test-python test-install

test-swift:
	$(SWIFT) test $(TESTFLAGS) --skip-build

test-c:
	$(MAKE) -C bindings/c check SWIFT="$(SWIFT)" SWIFT_FLAGS="-Xswiftc -enable-testing"

test-python:
	$(SWIFT) build $(TESTFLAGS) --product dfm
	$(call SONAME_LINK,$(TESTFLAGS))
	DFM_LIBRARY=$(BIN)/libdfm.so $(PY) -m pytest -q bindings/python/tests

# Developer command, not part of `make test` and never run by CI: the model suites under every
# OpenBLAS kernel set this CPU can execute (OPENBLAS_CORETYPE per run), with a table of the results.
test-kernels: setup
	SWIFT="$(SWIFT)" bash tools/kernel_sets.sh

# Installation: `make install PREFIX=/usr/local` puts lib/libdfm.so.N (+ libdfm.so), the Swift
# runtime it needs, include/dfm.h, lib/pkgconfig/dfm.pc and bin/dfm there (tools/install.sh);
# DESTDIR is honoured. It builds with INSTALL_FLAGS in SwiftPM's .build, nothing else in the checkout.
PREFIX ?= /usr/local
INSTALL_FLAGS ?= $(RELEASE)
install:
	$(SWIFT) build $(INSTALL_FLAGS) --product dfm
	$(SWIFT) build $(INSTALL_FLAGS) --product dfm-cli
	bash tools/install.sh "$$($(SWIFT) build $(INSTALL_FLAGS) --show-bin-path)" "$(PREFIX)" "$(DESTDIR)"

# The C install (a temporary prefix, the toolchain hidden) and the Python wheel (a fresh venv),
# both from the test build.
test-install:
	$(SWIFT) build $(TESTFLAGS) --product dfm-cli
	bash tools/test_install.sh $(BIN)
	SWIFT="$(SWIFT)" DFM_SWIFT_FLAGS="-Xswiftc -enable-testing" PY=$(PY) bash tools/test_wheel.sh

# Formatting (configs: .swift-format, .clang-format, ruff.toml; tools from tools/setup.sh):
# `make format` rewrites the sources, `make lint` only checks and fails on any finding.
SWIFT_FORMAT ?= swift-format
CLANG_FORMAT ?= clang-format
RUFF ?= .build-tools/venv/bin/ruff
SWIFT_SOURCES = Package.swift Sources Tests bench
C_SOURCES = $$(find Include Sources bindings \( -name '*.c' -o -name '*.h' -o -name '*.inc' \) -not -path '*/build/*')
format: setup
	$(SWIFT_FORMAT) format --in-place --parallel --recursive $(SWIFT_SOURCES)
	$(CLANG_FORMAT) -i $(C_SOURCES)
	$(RUFF) format .
	$(RUFF) check --fix .

lint: setup
	$(SWIFT_FORMAT) lint --strict --parallel --recursive $(SWIFT_SOURCES)
	$(CLANG_FORMAT) --dry-run --Werror $(C_SOURCES)
	$(RUFF) format --check .
	$(RUFF) check .

clean:
	rm -rf .build bindings/c/build
