// KL divergence between the softmaxes of two logit tensors over dim 1, with a temperature
// (kernels/defs/softmax_loss.def). p = softmax(t/T) (teacher), q = softmax(s/T) (student).
// Layout (outer, C, inner): the C logits of position p = (o, i) sit at o*C*inner + i + c*inner.
// The forward keeps both log-sum-exps and the per-position KL, which is all the backward needs
// besides the logits themselves.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kParallelWork = 32768;
// Fixed position ranges, each summed in order, then the range sums in order: thread-count independent.
constexpr int64_t kChunks = 64;

// log Σ_c exp(x_c / T) as (max, log Σ exp(x/T - max)); the split keeps log-probabilities accurate.
void log_sum_exp(const float* x, int64_t C, int64_t inner, float temperature, float* max_out, double* log_sum_out) {
  float m = -INFINITY;
  for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c * inner] / temperature);
  double sum = 0.0;
  for (int64_t c = 0; c < C; ++c) sum += std::exp(x[c * inner] / temperature - m);
  *max_out = m;
  *log_sum_out = std::log(sum);
}

}  // namespace

void kl_div_forward(const float* s, const float* t, int64_t outer, int64_t C, int64_t inner, float temperature,
                    float* lse_s, float* lse_t, float* kl_pos, float* loss) {
  const int64_t npos = outer * inner;
  double chunk_kl[kChunks] = {};
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t k = 0; k < kChunks; ++k) {
    for (int64_t p = k * npos / kChunks; p < (k + 1) * npos / kChunks; ++p) {
      const int64_t offset = (p / inner) * C * inner + p % inner;
      const float* xs = s + offset;
      const float* xt = t + offset;
      float ms, mt;
      double log_sum_s, log_sum_t;
      log_sum_exp(xs, C, inner, temperature, &ms, &log_sum_s);
      log_sum_exp(xt, C, inner, temperature, &mt, &log_sum_t);
      double kl = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const double log_q = static_cast<double>(xs[c * inner] / temperature - ms) - log_sum_s;
        const double log_p = static_cast<double>(xt[c * inner] / temperature - mt) - log_sum_t;
        kl += std::exp(log_p) * (log_p - log_q);
      }
      lse_s[p] = static_cast<float>(ms + log_sum_s);
      lse_t[p] = static_cast<float>(mt + log_sum_t);
      kl_pos[p] = static_cast<float>(kl);
      chunk_kl[k] += kl;
    }
  }
  double total = 0.0;
  for (int64_t k = 0; k < kChunks; ++k) total += chunk_kl[k];
  *loss = static_cast<float>(static_cast<double>(temperature) * temperature * total / static_cast<double>(npos));
}

void kl_div_backward(const float* s, const float* t, const float* lse_s, const float* lse_t, const float* kl_pos,
                     const float* grad_loss, int64_t outer, int64_t C, int64_t inner, float temperature, float* ds,
                     float* dt) {
  const int64_t npos = outer * inner;
  // d(T² KL(s/T, t/T))/ds = T (q - p) per position, averaged over positions.
  const float scale = temperature * *grad_loss / static_cast<float>(npos);
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t j = offset + c * inner;
      const float log_q = s[j] / temperature - lse_s[p];
      const float log_p = t[j] / temperature - lse_t[p];
      const float prob_p = std::exp(log_p);
      if (ds) ds[j] = scale * (std::exp(log_q) - prob_p);
      if (dt) dt[j] = scale * prob_p * ((log_p - log_q) - kl_pos[p]);
    }
  }
}

}  // namespace xmkd::cpu
