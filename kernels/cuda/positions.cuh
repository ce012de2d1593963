// The "over dim 1" kernels (softmax, cross-entropy, KL, similarities): a tensor viewed as
// (outer, C, inner) holds npos = outer·inner positions, and the C values of position p sit at
// position_base(p) + c·inner.
//
// Geometry: a position is handled by a group of kLanes threads that splits its C values
// (c = lane, lane + kLanes, ...) and combines them with group_reduce:
//   kLanes = 32, a warp per position, when inner == 1: the C values are contiguous, so a warp
//     reads them coalesced (rows of 1000 class logits are 32 loads per lane, not 1000);
//   kLanes = 1, a thread per position, otherwise: neighbouring threads take neighbouring
//     positions i, whose values are contiguous for every c (per-pixel maps).
// Groups walk the positions grid-stride; every thread of a group sees the same positions and the
// same branches, so the warp shuffles of group_reduce always have the whole warp present.
#pragma once
#include "kernels/cuda/launch.cuh"

namespace xmkd::cuda {

__device__ inline int64_t position_base(int64_t p, int64_t C, int64_t inner) {
  return (p / inner) * C * inner + p % inner;
}

template <int kLanes>
__device__ int64_t first_position() {
  return (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / kLanes;
}

template <int kLanes>
__device__ int64_t position_stride() {
  return static_cast<int64_t>(gridDim.x) * (kThreads / kLanes);
}

template <int kLanes>
__device__ int group_lane() {
  return static_cast<int>(threadIdx.x % kLanes);
}

// The reduction of v over the kLanes threads of the group, returned to all of them.
template <int kLanes, class T, class Op>
__device__ T group_reduce(T v, Op op) {
  static_assert(kLanes == 1 || kLanes == 32, "a position is handled by one thread or one warp");
  if constexpr (kLanes == 32) return warp_reduce(v, op);
  else return v;
}

// Blocks for one group per position, grid-stride beyond the cap.
inline unsigned position_blocks(int64_t npos, int64_t inner) { return blocks_for(npos * (inner == 1 ? 32 : 1)); }

// Launches kernel<32> when inner == 1 and kernel<1> otherwise (see above), on `blocks` blocks.
#define XMKD_LAUNCH_POSITIONS(inner, blocks, kernel, ...)                           \
  do {                                                                              \
    if ((inner) == 1)                                                               \
      kernel<32><<<(blocks), ::xmkd::cuda::kThreads, 0, ::xmkd::cuda::stream()>>>(__VA_ARGS__); \
    else                                                                            \
      kernel<1><<<(blocks), ::xmkd::cuda::kThreads, 0, ::xmkd::cuda::stream()>>>(__VA_ARGS__);  \
    XMKD_CUDA_CHECK_LAUNCH();                                                       \
  } while (0)

}  // namespace xmkd::cuda
