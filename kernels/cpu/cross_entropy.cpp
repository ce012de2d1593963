// Fused cross-entropy over dim 1 (kernels/defs/softmax_loss.def).
// Layout (outer, C, inner): the C logits of position p = (o, i) sit at o*C*inner + i + c*inner,
// its label at labels[p]. The forward computes each position's log-sum-exp once, keeps it for the
// backward (softmax = exp(logits - lse)) and reduces the weighted losses in double.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kParallelWork = 32768;
// The loss is reduced over a fixed number of position ranges, each summed in order, and the range
// sums are added in order: the same result for any thread count.
constexpr int64_t kChunks = 64;

}  // namespace

void widen_labels(const int32_t* labels32, int64_t n, int64_t* labels64) {
#pragma omp parallel for if (n > kParallelWork)
  for (int64_t i = 0; i < n; ++i) labels64[i] = labels32[i];
}

void cross_entropy_forward(const float* logits, const int64_t* labels, const float* weights, int64_t outer,
                           int64_t C, int64_t inner, int64_t ignore_index, float* lse, float* weight_sum,
                           float* loss, int64_t* bad_position) {
  const int64_t npos = outer * inner;
  double chunk_loss[kChunks] = {}, chunk_weight[kChunks] = {};
  int64_t chunk_bad[kChunks];
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t k = 0; k < kChunks; ++k) {
    chunk_bad[k] = -1;
    for (int64_t p = k * npos / kChunks; p < (k + 1) * npos / kChunks; ++p) {
      const float* x = logits + (p / inner) * C * inner + p % inner;
      float m = -INFINITY;
      for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c * inner]);
      double sum = 0.0;
      for (int64_t c = 0; c < C; ++c) sum += std::exp(x[c * inner] - m);
      const double log_sum = std::log(sum);
      lse[p] = static_cast<float>(m + log_sum);

      const int64_t y = labels[p];
      if (y == ignore_index) continue;
      if (y < 0 || y >= C) {
        if (chunk_bad[k] < 0) chunk_bad[k] = p;
        continue;
      }
      // -log softmax(x)[y] = (m - x_y) + log Σ exp(x - m): no cancellation between large lse and x_y.
      const double w = weights ? weights[y] : 1.0;
      chunk_loss[k] += w * (static_cast<double>(m - x[y * inner]) + log_sum);
      chunk_weight[k] += w;
    }
  }
  double total_loss = 0.0, total_weight = 0.0;
  *bad_position = -1;
  for (int64_t k = 0; k < kChunks; ++k) {
    total_loss += chunk_loss[k];
    total_weight += chunk_weight[k];
    if (*bad_position < 0) *bad_position = chunk_bad[k];
  }
  *weight_sum = static_cast<float>(total_weight);
  *loss = static_cast<float>(total_loss / total_weight);   // 0/0 = nan when every position is ignored
}

void cross_entropy_backward(const float* logits, const int64_t* labels, const float* weights, const float* lse,
                            const float* weight_sum, const float* grad_loss, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, float* dlogits) {
  const int64_t npos = outer * inner;
  const float g = *grad_loss, denom = *weight_sum;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    const float* x = logits + offset;
    float* dx = dlogits + offset;
    const int64_t y = labels[p];
    if (y == ignore_index || y < 0 || y >= C) {
      for (int64_t c = 0; c < C; ++c) dx[c * inner] = 0.0f;
      continue;
    }
    const float scale = (weights ? weights[y] : 1.0f) * g / denom;
    for (int64_t c = 0; c < C; ++c) {
      const float softmax = std::exp(x[c * inner] - lse[p]);
      dx[c * inner] = (softmax - (c == y ? 1.0f : 0.0f)) * scale;
    }
  }
}

}  // namespace xmkd::cpu
