// Mean squared error (kernels/defs/similarity.def), as kernels/cpu/mse.cpp.
// Forward: Σ (a - b)² in double over exactly kReduceBlocks blocks, then one block divides the
// combined sum by n (scalar_reduction.cuh, deterministic). Backward: one thread per element.
#include "kernels/cuda/scalar_reduction.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void mse_partials_kernel(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  XMKD_GRID_STRIDE(i, n) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  store_block_partial(sum);
}

__global__ void mse_finish_kernel(int64_t n, float* loss) {
  const ReducePartial total = combine_partials();
  if (threadIdx.x == 0) *loss = static_cast<float>(total.a / static_cast<double>(n));
}

// da = 2 (a - b) · grad_loss / n, db = -da
__global__ void mse_backward_kernel(const float* a, const float* b, int64_t n, const float* grad_loss, float* da,
                                    float* db) {
  const float scale = 2.0f * *grad_loss / static_cast<float>(n);
  XMKD_GRID_STRIDE(i, n) {
    const float d = scale * (a[i] - b[i]);
    if (da) da[i] = d;
    if (db) db[i] = -d;
  }
}

}  // namespace

void mse_forward(const float* a, const float* b, int64_t n, float* loss) {
  mse_partials_kernel<<<kReduceBlocks, kThreads, 0, stream()>>>(a, b, n);
  XMKD_CUDA_CHECK_LAUNCH();
  mse_finish_kernel<<<1, kThreads, 0, stream()>>>(n, loss);
  XMKD_CUDA_CHECK_LAUNCH();
}

void mse_backward(const float* a, const float* b, int64_t n, const float* grad_loss, float* da, float* db) {
  XMKD_LAUNCH_OVER(n, mse_backward_kernel, a, b, n, grad_loss, da, db);
}

}  // namespace xmkd::cuda
