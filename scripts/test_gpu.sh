#!/usr/bin/env bash
# Builds xmkd with the CUDA backend in build-gpu and runs the whole test suite, then checks that
# the CPU-vs-CUDA tests (ctest label gpu) really ran: they skip without a device, and a run in
# which any of them skipped is a failure, not a pass. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
jobs="${XMKD_JOBS:-$(nproc)}"

cmake -S . -B build-gpu -G Ninja -DXMKD_CUDA=ON ${CMAKE_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CMAKE_CUDA_ARCHITECTURES}
ninja -C build-gpu -j "$jobs"
./build-gpu/xmkd info

log=build-gpu/ctest-gpu.log
set +e
ctest --test-dir build-gpu --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The gpu label is exactly the tests whose name contains "Cuda" (tests/CMakeLists.txt); count
# their result lines ("12/345 Test #12: CudaPool.MaxPool ....   Passed").
result_lines() { grep -E "Test +#[0-9]+: [^ ]*Cuda[^ ]* " "$log" || true; }
gpu_total=$(result_lines | wc -l)
gpu_skipped=$(result_lines | grep -c "Skipped" || true)
gpu_failed=$(result_lines | grep -Ec "Failed|Exception|Timeout|SEGFAULT|Not Run" || true)
gpu_passed=$((gpu_total - gpu_skipped - gpu_failed))
echo "gpu tests: ${gpu_total} total, ${gpu_passed} passed, ${gpu_failed} failed, ${gpu_skipped} skipped; suite exit status ${status}"
if [ "${gpu_total}" -eq 0 ]; then
  echo "FAIL: no gpu-labelled test ran (check the ctest arguments)" >&2
  exit 1
fi
# A gpu test skips only without a device (a few, e.g. Tensor.CudaRequestWithoutCudaIsLoud, pass
# either way), so any skip means the CUDA kernels were not exercised.
if [ "${gpu_skipped}" -gt 0 ]; then
  echo "FAIL: ${gpu_skipped} of ${gpu_total} gpu-labelled tests skipped: no CUDA device" >&2
  exit 1
fi
exit "${status}"
