// Softmax and log-softmax over dim 1 (kernels/defs/softmax_loss.def).
// Layout (outer, C, inner): the C values of position (o, i) sit at o*C*inner + i + c*inner.
// Each position is independent; max-subtraction keeps exp() in range, sums run in double.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

// Parallelise over positions only when there is enough work to pay for the threads.
constexpr int64_t kParallelWork = 32768;

}  // namespace

void softmax_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t base = (p / inner) * C * inner + p % inner;
    float m = -INFINITY;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, x[base + c * inner]);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const float e = std::exp(x[base + c * inner] - m);
      y[base + c * inner] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t c = 0; c < C; ++c) y[base + c * inner] *= inv;
  }
}

void softmax_backward(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner, float* dx) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t base = (p / inner) * C * inner + p % inner;
    double dot = 0.0;
    for (int64_t c = 0; c < C; ++c) dot += static_cast<double>(g[base + c * inner]) * y[base + c * inner];
    const float d = static_cast<float>(dot);
    for (int64_t c = 0; c < C; ++c) dx[base + c * inner] = y[base + c * inner] * (g[base + c * inner] - d);
  }
}

void log_softmax_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t base = (p / inner) * C * inner + p % inner;
    float m = -INFINITY;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, x[base + c * inner]);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(x[base + c * inner] - m);
    const float log_sum = static_cast<float>(std::log(sum));
    // (x - m) first: exact-ish for large logits, where m + log_sum would lose the small part.
    for (int64_t c = 0; c < C; ++c) y[base + c * inner] = (x[base + c * inner] - m) - log_sum;
  }
}

void log_softmax_backward(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner, float* dx) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t base = (p / inner) * C * inner + p % inner;
    double gsum = 0.0;
    for (int64_t c = 0; c < C; ++c) gsum += g[base + c * inner];
    const float s = static_cast<float>(gsum);
    for (int64_t c = 0; c < C; ++c) dx[base + c * inner] = g[base + c * inner] - std::exp(y[base + c * inner]) * s;
  }
}

}  // namespace xmkd::cpu
