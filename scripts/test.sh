#!/usr/bin/env bash
# Builds xmkd (scripts/setup.sh) and runs the whole test suite. Tests labelled `gpu` skip with
# a message when no CUDA device is present. Extra arguments go to ctest (e.g. -L ops, -R Conv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
