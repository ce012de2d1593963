// What every CUDA kernel file shares: the stream, the launch geometry and block reductions.
//
// Geometry: blocks of kThreads = 256 threads; element-wise kernels walk their range with a
// grid-stride loop, so any n runs on a bounded grid (blocks_for). A reduction that needs the
// whole block (block_reduce) requires blockDim.x == kThreads and every thread of the block to
// call it, the same number of times.
#pragma once
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/runtime.h"

namespace xmkd::cuda {

// The one stream of the current device, created on first use: every kernel, copy and cuBLAS call
// of the backend is queued on it, so they run in the order they were issued.
cudaStream_t stream();
// The cuBLAS handle of the current device, bound to stream().
cublasHandle_t cublas_handle();

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// Blocks for a grid-stride loop over n items: one item per thread up to a cap of 8 blocks per
// SM of the current device; at least one block (the kernel then sees n == 0 and does nothing).
inline unsigned blocks_for(int64_t n) {
  const int64_t kMaxBlocks = 8 * static_cast<int64_t>(multiprocessor_count() > 0 ? multiprocessor_count() : 1);
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

// Grid-stride loop over [0, n): `for (int64_t i : grid_stride(n))`-like, written out as a macro
// so that the index arithmetic is int64 everywhere.
#define XMKD_GRID_STRIDE(i, n)                                                                 \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);     \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Launches kernel<<<blocks_for(n), kThreads>>>(args...) on the stream, unless n == 0.
#define XMKD_LAUNCH_OVER(n, kernel, ...)                                        \
  do {                                                                          \
    if ((n) > 0) {                                                              \
      kernel<<<::xmkd::cuda::blocks_for(n), ::xmkd::cuda::kThreads, 0,          \
               ::xmkd::cuda::stream()>>>(__VA_ARGS__);                          \
      XMKD_CUDA_CHECK_LAUNCH();                                                 \
    }                                                                           \
  } while (0)

struct SumOp {
  template <class T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct MinOp {
  template <class T> __device__ T operator()(T a, T b) const { return b < a ? b : a; }
};
struct MaxOp {   // NaN never wins, as std::max(m, x) with m first
  template <class T> __device__ T operator()(T a, T b) const { return a < b ? b : a; }
};

// Reduction over the 32 lanes of a warp by butterfly (xor) shuffles: every lane gets the result,
// and the same one bit for bit (each step combines the same two values on both lanes).
template <class T, class Op>
__device__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduction over the block (kThreads threads, all of which must call): every thread gets the
// result. The grouping is fixed (warps, then the warp sums in order), so the result is
// deterministic.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T warp_results[kWarps];
  __shared__ T result;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  v = warp_reduce(v, op);
  __syncthreads();   // an earlier call's readers are done with warp_results and result
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < kWarps ? warp_results[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

__device__ inline double block_sum(double v) { return block_reduce(v, SumOp{}, 0.0); }

}  // namespace xmkd::cuda
