#!/usr/bin/env bash
# Builds xmkd with the CUDA backend in build-gpu and runs the whole test suite, then checks that
# the CPU-vs-CUDA tests (ctest label gpu: the tests/*/test_cuda_*.cpp files) really ran: they skip
# without a usable device, and a run in which any of them skipped is a failure, not a pass; the
# reasons they gave (the CUDA error name, "built without cuDNN") are printed. Extra arguments go
# to ctest. Kernels are synchronised and checked after every launch (XMKD_CUDA_SYNC=1), so a
# first fault is reported where it happens; XMKD_CUDA_SYNC=0 runs at full speed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
export XMKD_CUDA_SYNC="${XMKD_CUDA_SYNC:-1}"
jobs="${XMKD_JOBS:-$(nproc)}"

cmake -S . -B build-gpu -G Ninja -DXMKD_CUDA=ON ${CMAKE_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CMAKE_CUDA_ARCHITECTURES}
ninja -C build-gpu -j "$jobs"
./build-gpu/xmkd info

set +e
ctest --test-dir build-gpu --output-on-failure -j "$jobs" -LE gpu "$@"
cpu_status=$?
# The gpu tests on their own, so that their result lines and LastTest.log hold nothing else.
log=build-gpu/ctest-gpu.log
ctest --test-dir build-gpu --output-on-failure -j "$jobs" -L gpu "$@" 2>&1 | tee "$log"
gpu_status=${PIPESTATUS[0]}
set -e

result_lines() { grep -E "Test +#[0-9]+: " "$log" || true; }
gpu_total=$(result_lines | wc -l)
gpu_skipped=$(result_lines | grep -c "Skipped" || true)
gpu_failed=$(result_lines | grep -Ec "Failed|Exception|Timeout|SEGFAULT|Not Run" || true)
gpu_passed=$((gpu_total - gpu_skipped - gpu_failed))
# gtest prints "<file>:<line>: Skipped" and then the reason on the next line.
reasons=$(grep -h -A1 ": Skipped$" build-gpu/Testing/Temporary/LastTest.log 2>/dev/null | grep -vE ": Skipped$|^--$" |
          sort | uniq -c || true)
echo "gpu tests: ${gpu_total} total, ${gpu_passed} passed, ${gpu_failed} failed, ${gpu_skipped} skipped;" \
     "exit status ${cpu_status} (other tests), ${gpu_status} (gpu tests)"
if [ "${gpu_total}" -eq 0 ]; then
  echo "FAIL: no gpu-labelled test ran (check the ctest arguments)" >&2
  exit 1
fi
if [ "${gpu_skipped}" -gt 0 ]; then
  echo "FAIL: ${gpu_skipped} of ${gpu_total} gpu tests skipped, so the CUDA kernels were not all exercised. Reasons:" >&2
  echo "${reasons}" >&2
  exit 1
fi
[ "${cpu_status}" -eq 0 ] && [ "${gpu_status}" -eq 0 ]
