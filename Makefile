# dfm: the two commands a new machine needs are `make train` and `make test`.
SWIFT ?= swift
RELEASE = -c release
PY ?= /usr/bin/python3

.PHONY: setup build train test test-swift test-c test-python clean

setup:
	@bash tools/setup.sh

build: setup
	$(SWIFT) build $(RELEASE)

# The main job: train DFM-ResNet18 on Fashion-MNIST (about three minutes on 2 cores),
# report test accuracy, write a checkpoint and a plot of the curves under runs/.
TRAIN_ARGS ?= --model resnet18 --T 3 --fb-filters 8 --epochs 1 --batch-size 64 --lr 1e-3 --train-subset 15000 \
	--checkpoint runs/fashion-resnet18.safetensors --plot runs/fashion-resnet18.png
train: setup
	$(SWIFT) build $(RELEASE) --product dfm-cli
	$$($(SWIFT) build $(RELEASE) --show-bin-path)/dfm-cli train $(TRAIN_ARGS)

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
