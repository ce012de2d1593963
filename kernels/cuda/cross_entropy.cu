// Fused cross-entropy over dim 1 (kernels/defs/softmax_loss.def), as kernels/cpu/cross_entropy.cpp.
// Layout: positions.cuh; labels[p] is the class of position p.
//
// Forward, two launches: the per-position kernel runs on exactly kReduceBlocks blocks
// (scalar_reduction.cuh); each group computes its positions' log-sum-exp (kept for backward),
// and lane 0 adds w_y · loss_p and w_y to its thread's sums and notes invalid labels; the blocks
// store their partial sums and the first invalid position, and one block combines them into the
// loss, the weight sum and bad_position. Deterministic; 0/0 = nan when every position is ignored.
// Backward: one thread per logit.
#include <climits>
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/cuda/scalar_reduction.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void widen_labels_kernel(const int32_t* labels32, int64_t n, int64_t* labels64) {
  XMKD_GRID_STRIDE(i, n) labels64[i] = labels32[i];
}

template <int kLanes>
__global__ void cross_entropy_partials_kernel(const float* logits, const int64_t* labels, const float* weights,
                                              int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                                              float* lse) {
  const int lane = group_lane<kLanes>();
  double loss_sum = 0.0, weight_sum = 0.0;
  long long first_bad = LLONG_MAX;
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const float* x = logits + position_base(p, C, inner);
    float m = -INFINITY;
    for (int64_t c = lane; c < C; c += kLanes) m = MaxOp{}(m, x[c * inner]);
    m = group_reduce<kLanes>(m, MaxOp{});
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) sum += expf(x[c * inner] - m);
    const double log_sum = log(group_reduce<kLanes>(sum, SumOp{}));
    if (lane == 0) {   // one thread per position from here on
      lse[p] = static_cast<float>(m + log_sum);
      const int64_t y = labels[p];
      if (y == ignore_index) {
        // contributes nothing
      } else if (y < 0 || y >= C) {
        first_bad = p < first_bad ? p : first_bad;
      } else {
        // -log softmax(x)[y] = (m - x_y) + log Σ exp(x - m): no cancellation between large lse and x_y.
        const double w = weights ? weights[y] : 1.0;
        loss_sum += w * (static_cast<double>(m - x[y * inner]) + log_sum);
        weight_sum += w;
      }
    }
  }
  store_block_partial(loss_sum, weight_sum, first_bad);
}

__global__ void cross_entropy_finish_kernel(float* weight_sum, float* loss, int64_t* bad_position) {
  const ReducePartial total = combine_partials();
  if (threadIdx.x != 0) return;
  *weight_sum = static_cast<float>(total.b);
  *loss = static_cast<float>(total.a / total.b);   // 0/0 = nan when every position is ignored
  *bad_position = total.first == LLONG_MAX ? -1 : total.first;
}

// dlogits[o, c, i] = (softmax - [c == y]) · w_y · grad_loss / weight_sum, zero where ignored.
__global__ void cross_entropy_backward_kernel(const float* logits, const int64_t* labels, const float* weights,
                                              const float* lse, const float* weight_sum, const float* grad_loss,
                                              int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                                              float* dlogits) {
  const float g = *grad_loss, denom = *weight_sum;
  XMKD_GRID_STRIDE(k, outer * C * inner) {
    const int64_t i = k % inner, c = k / inner % C, o = k / (C * inner);
    const int64_t p = o * inner + i;
    const int64_t y = labels[p];
    if (y == ignore_index || y < 0 || y >= C) {
      dlogits[k] = 0.0f;
      continue;
    }
    const float scale = (weights ? weights[y] : 1.0f) * g / denom;
    const float softmax = expf(logits[k] - lse[p]);
    dlogits[k] = (softmax - (c == y ? 1.0f : 0.0f)) * scale;
  }
}

}  // namespace

void widen_labels(const int32_t* labels32, int64_t n, int64_t* labels64) {
  XMKD_LAUNCH_OVER(n, widen_labels_kernel, labels32, n, labels64);
}

void cross_entropy_forward(const float* logits, const int64_t* labels, const float* weights, int64_t outer,
                           int64_t C, int64_t inner, int64_t ignore_index, float* lse, float* weight_sum,
                           float* loss, int64_t* bad_position) {
  XMKD_LAUNCH_POSITIONS(inner, kReduceBlocks, cross_entropy_partials_kernel, logits, labels, weights, outer, C, inner,
                        ignore_index, lse);
  cross_entropy_finish_kernel<<<1, kThreads, 0, stream()>>>(weight_sum, loss, bad_position);
  XMKD_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward(const float* logits, const int64_t* labels, const float* weights, const float* lse,
                            const float* weight_sum, const float* grad_loss, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, float* dlogits) {
  XMKD_LAUNCH_OVER(outer * C * inner, cross_entropy_backward_kernel, logits, labels, weights, lse, weight_sum,
                   grad_loss, outer, C, inner, ignore_index, dlogits);
}

}  // namespace xmkd::cuda
