// Deterministic reductions of a whole tensor to a scalar, in two launches:
//   phase 1: exactly kReduceBlocks blocks walk the terms with a grid-stride loop; each block
//            reduces its threads' sums and stores them as partial[blockIdx.x];
//   phase 2: one block combines the kReduceBlocks partials in a fixed order.
// The grid size is a constant, not a function of the GPU or of n, so the grouping of the terms,
// and hence the rounding, is the same on every device and every run.
//
// The partials live in a static __device__ array, one per .cu file that includes this header:
// no allocation, and safe because every kernel runs on the one stream of the device
// (launch.cuh), so two reductions never use the array at the same time.
#pragma once
#include <climits>

#include "kernels/cuda/launch.cuh"

namespace xmkd::cuda {

constexpr int kReduceBlocks = 512;

// Two double sums and a minimum (e.g. the first invalid position; LLONG_MAX = none).
struct ReducePartial {
  double a, b;
  long long first;
};

namespace {
__device__ ReducePartial g_reduce_partials[kReduceBlocks];
}  // namespace

// Phase 1, called by every thread of every block with that thread's own sums.
__device__ inline void store_block_partial(double a, double b = 0.0, long long first = LLONG_MAX) {
  a = block_sum(a);
  b = block_sum(b);
  first = block_reduce(first, MinOp{}, static_cast<long long>(LLONG_MAX));
  if (threadIdx.x == 0) g_reduce_partials[blockIdx.x] = ReducePartial{a, b, first};
}

// Phase 2, called by every thread of the single block: the totals, returned to every thread.
__device__ inline ReducePartial combine_partials() {
  double a = 0.0, b = 0.0;
  long long first = LLONG_MAX;
  for (int k = threadIdx.x; k < kReduceBlocks; k += kThreads) {
    a += g_reduce_partials[k].a;
    b += g_reduce_partials[k].b;
    first = g_reduce_partials[k].first < first ? g_reduce_partials[k].first : first;
  }
  ReducePartial total;
  total.a = block_sum(a);
  total.b = block_sum(b);
  total.first = block_reduce(first, MinOp{}, static_cast<long long>(LLONG_MAX));
  return total;
}

}  // namespace xmkd::cuda
