#!/usr/bin/env bash
# Installs the system packages dfm needs to build and test, when missing (Debian/Ubuntu).
set -euo pipefail
pkgs=(libopenblas-dev zlib1g-dev python3-numpy python3-pytest dataset-fashion-mnist valgrind pkg-config
      openmpi-bin libopenmpi-dev)  # Open MPI: data-parallel training (docs: DISTRIBUTED), loaded at runtime
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
