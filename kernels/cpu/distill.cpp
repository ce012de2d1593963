// Kernels of the distillation ops (kernels/defs/distill.def). Layout (outer, C, inner): the C values
// of position p = (o, i) sit at o·C·inner + i + c·inner. Per-position sums are in double.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 15;   // elements below which a parallel region costs more than it saves

int64_t position_offset(int64_t p, int64_t C, int64_t inner) { return (p / inner) * C * inner + p % inner; }
}  // namespace

void zscore_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float eps, float* y, float* stdev) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelMin)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = position_offset(p, C, inner);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += x[offset + c * inner];
    const double mean = sum / static_cast<double>(C);
    double squares = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double u = x[offset + c * inner] - mean;
      squares += u * u;
    }
    const double sd = std::sqrt(squares / static_cast<double>(C - 1));
    const double denominator = sd + static_cast<double>(eps);
    for (int64_t c = 0; c < C; ++c)
      y[offset + c * inner] = static_cast<float>((x[offset + c * inner] - mean) / denominator);
    stdev[p] = static_cast<float>(sd);
  }
}

void zscore_backward(const float* y, const float* stdev, const float* g, int64_t outer, int64_t C, int64_t inner,
                     float eps, float* dx) {
  const int64_t npos = outer * inner;
#pragma omp parallel for if (npos * C > kParallelMin)
  for (int64_t p = 0; p < npos; ++p) {
    const int64_t offset = position_offset(p, C, inner);
    double g_sum = 0.0, gy_sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      g_sum += g[offset + c * inner];
      gy_sum += static_cast<double>(g[offset + c * inner]) * y[offset + c * inner];
    }
    const double g_mean = g_sum / static_cast<double>(C);
    const double sd = stdev[p];
    const double denominator = sd + static_cast<double>(eps);
    // A constant vector has y = 0 and no defined d(stdev)/dx; its second term is taken as 0.
    const double through_stdev = sd > 0.0 ? gy_sum / (static_cast<double>(C - 1) * sd) : 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t j = offset + c * inner;
      dx[j] = static_cast<float>((g[j] - g_mean) / denominator - y[j] * through_stdev);
    }
  }
}

void dim1_to_rows(const float* x, int64_t outer, int64_t C, int64_t inner, float* rows) {
#pragma omp parallel for if (outer * C * inner > kParallelMin)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t c = 0; c < C; ++c) rows[(o * inner + i) * C + c] = x[(o * C + c) * inner + i];
}

void rows_to_dim1(const float* rows, int64_t outer, int64_t C, int64_t inner, float* x) {
#pragma omp parallel for if (outer * C * inner > kParallelMin)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) x[(o * C + c) * inner + i] = rows[(o * inner + i) * C + c];
}

void gather_rows(const float* x, int64_t C, const int64_t* index, int64_t K, float* y) {
#pragma omp parallel for if (K * C > kParallelMin)
  for (int64_t k = 0; k < K; ++k) std::copy(x + index[k] * C, x + (index[k] + 1) * C, y + k * C);
}

void scatter_add_rows(const float* g, int64_t C, const int64_t* index, int64_t K, float* dx) {
  // Serial in k: two k with the same index would race; every element of g is read once.
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) dx[index[k] * C + c] += g[k * C + c];
}

void add_at_labels_forward(const float* x, const int64_t* labels, int64_t R, int64_t C, float value, float* y) {
#pragma omp parallel for if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    std::copy(x + r * C, x + (r + 1) * C, y + r * C);
    y[r * C + labels[r]] += value;
  }
}

void gather_labels_forward(const float* x, const int64_t* labels, int64_t R, int64_t C, float* y) {
  for (int64_t r = 0; r < R; ++r) y[r] = x[r * C + labels[r]];
}

void gather_labels_backward(const float* g, const int64_t* labels, int64_t R, int64_t C, float* dx) {
#pragma omp parallel for if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    std::fill(dx + r * C, dx + (r + 1) * C, 0.0f);
    dx[r * C + labels[r]] = g[r];
  }
}

void logsumexp_rows_forward(const float* x, int64_t R, int64_t C, float* y) {
#pragma omp parallel for if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; ++r) {
    const float* row = x + r * C;
    const float m = *std::max_element(row, row + C);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(row[c] - m));
    y[r] = static_cast<float>(m + std::log(sum));
  }
}

void logsumexp_rows_backward(const float* x, const float* y, const float* g, int64_t R, int64_t C, float* dx) {
#pragma omp parallel for if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) dx[r * C + c] = g[r] * std::exp(x[r * C + c] - y[r]);
}

void sigmoid_forward(int64_t n, const float* x, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void sigmoid_backward(int64_t n, const float* y, const float* g, float* dx) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * y[i] * (1.0f - y[i]);
}

void reciprocal_forward(int64_t n, const float* x, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / x[i];
}

void reciprocal_backward(int64_t n, const float* y, const float* g, float* dx) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = -g[i] * y[i] * y[i];
}

}  // namespace xmkd::cpu
