#!/usr/bin/env bash
# Installs the Debian packages xmkd needs (only those missing), then configures and builds it
# into build/. Idempotent; prints nothing on success unless XMKD_VERBOSE=1.
#   scripts/setup.sh            Release build, CUDA when nvcc is found (XMKD_CUDA=AUTO)
#   XMKD_CMAKE_ARGS="-DXMKD_CUDA=OFF" scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {   # run quietly; show the output only if the command fails
  if [ "${XMKD_VERBOSE:-0}" = 1 ]; then "$@"; return; fi
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: failed: $*" >&2
    exit 1
  fi
}

# libopenmpi-dev, openmpi-bin: data-parallel training (train.distributed "mpi"; the
# distributed tests run mpirun). libonnx-dev, libprotobuf-dev: `xmkd export --format onnx`;
# python3-onnx, python3-opencv, python3-numpy: the test that checks those files with an
# independent runtime (tests/e2e/onnx_check.py, run with /usr/bin/python3).
packages=(g++ cmake ninja-build ccache libopenblas-openmp-dev nlohmann-json3-dev libstb-dev libgtest-dev libcli11-dev
          libopenmpi-dev openmpi-bin libonnx-dev libprotobuf-dev python3-onnx python3-opencv python3-numpy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  run $sudo apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
# shellcheck disable=SC2086
run cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${XMKD_CMAKE_ARGS:-}
run cmake --build build -j "$(nproc)"
