#!/usr/bin/env bash
# Builds xmkd with the CUDA backend in build-gpu and runs the whole test suite, then checks that
# the CPU-vs-CUDA tests (ctest label gpu) really ran: they skip without a device, and a GPU run
# in which every one of them skipped is a failure, not a pass. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
jobs="${XMKD_JOBS:-$(nproc)}"

cmake -S . -B build-gpu -G Ninja -DXMKD_CUDA=ON ${CMAKE_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CMAKE_CUDA_ARCHITECTURES}
ninja -C build-gpu -j "$jobs"
./build-gpu/xmkd info

status=0
ctest --test-dir build-gpu --output-on-failure -j "$jobs" "$@" || status=$?

# Count the gpu-labelled tests, and those of them that skipped, from ctest's own records.
log=build-gpu/Testing/Temporary/LastTest.log
gpu_total=$(ctest --test-dir build-gpu -N -L gpu | sed -n 's/^Total Tests: *//p')
gpu_skipped=$(ctest --test-dir build-gpu -L gpu --output-on-failure -j "$jobs" 2>&1 | grep -c "Skipped" || true)
gpu_ran=$((gpu_total - gpu_skipped))
echo "gpu tests: ${gpu_total} total, ${gpu_ran} ran, ${gpu_skipped} skipped; whole suite exit status ${status}"
if [ "${gpu_total}" -eq 0 ]; then
  echo "FAIL: no gpu-labelled tests were registered" >&2
  exit 1
fi
if [ "${gpu_ran}" -eq 0 ]; then
  echo "FAIL: every gpu-labelled test skipped (no CUDA device?)" >&2
  exit 1
fi
exit "${status}"
