// Cosine similarity and L2 normalisation over dim 1 (kernels/defs/similarity.def).
// Layout (outer, C, inner): the C values of position p = (o, i) sit at o*C*inner + i + c*inner.
// Dot products and squared norms are accumulated together in one pass, in double.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kParallelWork = 32768;

}  // namespace

void cosine_similarity_forward(const float* a, const float* b, int64_t outer, int64_t C, int64_t inner, float eps,
                               float* y, float* norm_a, float* norm_b) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    double dot = 0.0, aa = 0.0, bb = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double av = a[offset + c * inner], bv = b[offset + c * inner];
      dot += av * bv;
      aa += av * av;
      bb += bv * bv;
    }
    // Each norm is clamped on its own: max(|a|, eps) · max(|b|, eps).
    const double na = std::max(std::sqrt(aa), static_cast<double>(eps));
    const double nb = std::max(std::sqrt(bb), static_cast<double>(eps));
    norm_a[p] = static_cast<float>(na);
    norm_b[p] = static_cast<float>(nb);
    y[p] = static_cast<float>(dot / (na * nb));
  }
}

void cosine_similarity_backward(const float* a, const float* b, const float* y, const float* norm_a,
                                const float* norm_b, const float* g, int64_t outer, int64_t C, int64_t inner,
                                float* da, float* db) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    const float na = norm_a[p], nb = norm_b[p];
    const float g_over_ab = g[p] / (na * nb);
    const float gy_over_aa = g[p] * y[p] / (na * na);
    const float gy_over_bb = g[p] * y[p] / (nb * nb);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t j = offset + c * inner;
      if (da) da[j] = g_over_ab * b[j] - gy_over_aa * a[j];
      if (db) db[j] = g_over_ab * a[j] - gy_over_bb * b[j];
    }
  }
}

void l2_normalize_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float eps, float* y,
                          float* norm) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    double xx = 0.0;
    for (int64_t c = 0; c < C; ++c) xx += static_cast<double>(x[offset + c * inner]) * x[offset + c * inner];
    const float n = static_cast<float>(std::sqrt(xx));
    const float denom = std::max(n, eps);
    norm[p] = n;
    for (int64_t c = 0; c < C; ++c) y[offset + c * inner] = x[offset + c * inner] / denom;
  }
}

void l2_normalize_backward(const float* y, const float* norm, const float* g, int64_t outer, int64_t C,
                           int64_t inner, float eps, float* dx) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelWork)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = (p / inner) * C * inner + p % inner;
    if (norm[p] < eps) {
      // The denominator is the constant eps here: y = x / eps.
      for (int64_t c = 0; c < C; ++c) dx[offset + c * inner] = g[offset + c * inner] / eps;
      continue;
    }
    double yg = 0.0;
    for (int64_t c = 0; c < C; ++c) yg += static_cast<double>(y[offset + c * inner]) * g[offset + c * inner];
    const float dot = static_cast<float>(yg);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t j = offset + c * inner;
      dx[j] = (g[j] - y[j] * dot) / norm[p];
    }
  }
}

}  // namespace xmkd::cpu
