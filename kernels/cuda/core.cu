// fill and axpy (kernels/defs/core.def): one element per thread, grid-stride over n.
#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void fill_kernel(float* y, int64_t n, float value) {
  XMKD_GRID_STRIDE(i, n) y[i] = value;
}

__global__ void axpy_kernel(int64_t n, float alpha, const float* x, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

}  // namespace

void fill(float* y, int64_t n, float value) {
  XMKD_LAUNCH_OVER(n, fill_kernel, y, n, value);
}

void axpy(int64_t n, float alpha, const float* x, float* y) {
  XMKD_LAUNCH_OVER(n, axpy_kernel, n, alpha, x, y);
}

}  // namespace xmkd::cuda
