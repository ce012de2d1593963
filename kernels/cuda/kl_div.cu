// KL divergence between the softmaxes of two logit tensors over dim 1, with a temperature
// (kernels/defs/softmax_loss.def), as kernels/cpu/kl_div.cpp: p = softmax(t/T) (teacher),
// q = softmax(s/T) (student). Layout: positions.cuh.
// Forward, two launches: the per-position kernel runs on exactly kReduceBlocks blocks and keeps
// both log-sum-exps and each position's KL; one block then combines the block sums into the loss
// (scalar_reduction.cuh, deterministic). Backward: one thread per logit.
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/cuda/scalar_reduction.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// log Σ_c exp(x_c / T) as (max, log Σ exp(x/T - max)), combined over the group.
template <int kLanes>
__device__ void log_sum_exp(const float* x, int64_t C, int64_t inner, float temperature, int lane, float* max_out,
                            double* log_sum_out) {
  float m = -INFINITY;
  for (int64_t c = lane; c < C; c += kLanes) m = MaxOp{}(m, x[c * inner] / temperature);
  m = group_reduce<kLanes>(m, MaxOp{});
  double sum = 0.0;
  for (int64_t c = lane; c < C; c += kLanes) sum += expf(x[c * inner] / temperature - m);
  *max_out = m;
  *log_sum_out = log(group_reduce<kLanes>(sum, SumOp{}));
}

template <int kLanes>
__global__ void kl_div_partials_kernel(const float* s, const float* t, int64_t outer, int64_t C, int64_t inner,
                                       float temperature, float* lse_s, float* lse_t, float* kl_pos) {
  const int lane = group_lane<kLanes>();
  double kl_sum = 0.0;
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    const float* xs = s + base;
    const float* xt = t + base;
    float ms, mt;
    double log_sum_s, log_sum_t;
    log_sum_exp<kLanes>(xs, C, inner, temperature, lane, &ms, &log_sum_s);
    log_sum_exp<kLanes>(xt, C, inner, temperature, lane, &mt, &log_sum_t);
    double kl = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      const double log_q = static_cast<double>(xs[c * inner] / temperature - ms) - log_sum_s;
      const double log_p = static_cast<double>(xt[c * inner] / temperature - mt) - log_sum_t;
      kl += exp(log_p) * (log_p - log_q);
    }
    kl = group_reduce<kLanes>(kl, SumOp{});
    if (lane == 0) {
      lse_s[p] = static_cast<float>(ms + log_sum_s);
      lse_t[p] = static_cast<float>(mt + log_sum_t);
      kl_pos[p] = static_cast<float>(kl);
      kl_sum += kl;
    }
  }
  store_block_partial(kl_sum);
}

// loss = T² · Σ_p kl_p / npos, in double as on the CPU.
__global__ void kl_div_finish_kernel(int64_t npos, float temperature, float* loss) {
  const ReducePartial total = combine_partials();
  if (threadIdx.x == 0)
    *loss = static_cast<float>(static_cast<double>(temperature) * temperature * total.a / static_cast<double>(npos));
}

// ds = T (q - p) · grad_loss / npos;  dt = T p ((log p - log q) - kl_p) · grad_loss / npos
__global__ void kl_div_backward_kernel(const float* s, const float* t, const float* lse_s, const float* lse_t,
                                       const float* kl_pos, const float* grad_loss, int64_t outer, int64_t C,
                                       int64_t inner, float temperature, float* ds, float* dt) {
  const int64_t npos = outer * inner;
  const float scale = temperature * *grad_loss / static_cast<float>(npos);
  XMKD_GRID_STRIDE(k, outer * C * inner) {
    const int64_t p = k / (C * inner) * inner + k % inner;
    const float log_q = s[k] / temperature - lse_s[p];
    const float log_p = t[k] / temperature - lse_t[p];
    const float prob_p = expf(log_p);
    if (ds) ds[k] = scale * (expf(log_q) - prob_p);
    if (dt) dt[k] = scale * prob_p * ((log_p - log_q) - kl_pos[p]);
  }
}

}  // namespace

void kl_div_forward(const float* s, const float* t, int64_t outer, int64_t C, int64_t inner, float temperature,
                    float* lse_s, float* lse_t, float* kl_pos, float* loss) {
  XMKD_LAUNCH_POSITIONS(inner, kReduceBlocks, kl_div_partials_kernel, s, t, outer, C, inner, temperature, lse_s,
                        lse_t, kl_pos);
  kl_div_finish_kernel<<<1, kThreads, 0, stream()>>>(outer * inner, temperature, loss);
  XMKD_CUDA_CHECK_LAUNCH();
}

void kl_div_backward(const float* s, const float* t, const float* lse_s, const float* lse_t, const float* kl_pos,
                     const float* grad_loss, int64_t outer, int64_t C, int64_t inner, float temperature, float* ds,
                     float* dt) {
  XMKD_LAUNCH_OVER(outer * C * inner, kl_div_backward_kernel, s, t, lse_s, lse_t, kl_pos, grad_loss, outer, C, inner,
                   temperature, ds, dt);
}

}  // namespace xmkd::cuda
