// Reductions declared in kernels/defs/elementwise.def, accumulated in double as on the CPU.
//   sum_all, dot: the whole tensor to one value, deterministic two-phase reduction
//                 (scalar_reduction.cuh): kReduceBlocks blocks of partial sums, then one block.
//   channel_sum:  x (N,C,inner) -> out (C); one block per channel sums its N·inner values.
#include "kernels/cuda/scalar_reduction.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void sum_partials_kernel(int64_t n, const float* x) {
  double s = 0.0;
  XMKD_GRID_STRIDE(i, n) s += x[i];
  store_block_partial(s);
}

__global__ void dot_partials_kernel(int64_t n, const float* a, const float* b) {
  double s = 0.0;
  XMKD_GRID_STRIDE(i, n) s += static_cast<double>(a[i]) * b[i];
  store_block_partial(s);
}

// out[0] = alpha · total, with alpha applied in double as the CPU does.
__global__ void finish_sum_kernel(double alpha, float* out) {
  const ReducePartial total = combine_partials();
  if (threadIdx.x == 0) out[0] = static_cast<float>(alpha * total.a);
}

// Block c sums channel c: element j of the channel is x[(n·C + c)·inner + i], n = j / inner, i = j % inner.
__global__ void channel_sum_kernel(int64_t N, int64_t C, int64_t inner, const float* x, float* out) {
  const int64_t c = blockIdx.x;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < N * inner; j += kThreads) s += x[((j / inner) * C + c) * inner + j % inner];
  s = block_sum(s);
  if (threadIdx.x == 0) out[c] = static_cast<float>(s);
}

}  // namespace

void sum_all(int64_t n, const float* x, float alpha, float* out) {
  sum_partials_kernel<<<kReduceBlocks, kThreads, 0, stream()>>>(n, x);
  XMKD_CUDA_CHECK_LAUNCH();
  finish_sum_kernel<<<1, kThreads, 0, stream()>>>(static_cast<double>(alpha), out);
  XMKD_CUDA_CHECK_LAUNCH();
}

void dot(int64_t n, const float* a, const float* b, float* out) {
  dot_partials_kernel<<<kReduceBlocks, kThreads, 0, stream()>>>(n, a, b);
  XMKD_CUDA_CHECK_LAUNCH();
  finish_sum_kernel<<<1, kThreads, 0, stream()>>>(1.0, out);
  XMKD_CUDA_CHECK_LAUNCH();
}

void channel_sum(int64_t N, int64_t C, int64_t inner, const float* x, float* out) {
  if (C == 0) return;
  channel_sum_kernel<<<static_cast<unsigned>(C), kThreads, 0, stream()>>>(N, C, inner, x, out);
  XMKD_CUDA_CHECK_LAUNCH();
}

}  // namespace xmkd::cuda
