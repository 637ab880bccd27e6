#!/usr/bin/env bash
# Installs the system packages dfm needs to build and test, when missing (Debian/Ubuntu).
set -euo pipefail
# Open MPI: data-parallel training (docs: DISTRIBUTED), loaded at run time.
pkgs=(libopenblas-dev zlib1g-dev python3-numpy python3-pytest python3-venv dataset-fashion-mnist valgrind pkg-config
      clang-format openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ruff (Python formatter and linter for `make format` / `make lint`), pinned, in a venv of its own
# under the gitignored .build-tools/. swift-format comes with the Swift toolchain.
RUFF_VERSION=0.17.5
tools="$(cd "$(dirname "$0")/.." && pwd)/.build-tools"
if [ "$("$tools/venv/bin/ruff" --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]; then
  echo "setup: installing ruff $RUFF_VERSION into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "ruff==$RUFF_VERSION"
fi
