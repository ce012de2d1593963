// Reduction reference kernels (declared in kernels/defs/elementwise.def). Sums accumulate in
// double: a float32 accumulator loses about log2(n) bits over n terms, which for a ResNet
// activation (10^6 elements) would already show at the 1e-4 level the tests compare at.
// The `simd reduction` clauses let the compiler reorder the double sums into vector lanes
// (without -ffast-math a plain loop would stay scalar); that order is fixed at compile time, and
// the split across threads is fixed too, so results are reproducible bit for bit.
#include <cstdint>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 15;

// Σ term(i) over [0, n) as kChunks fixed slices summed in order: the result is the same for any
// thread count (an OpenMP reduction clause combines per-thread sums in arrival order).
template <class Term>
double deterministic_sum(int64_t n, Term term) {
  constexpr int64_t kChunks = 64;
  double partial[kChunks];
  const int64_t chunk = (n + kChunks - 1) / kChunks;
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t k = 0; k < kChunks; ++k) {
    const int64_t lo = k * chunk < n ? k * chunk : n;
    const int64_t hi = lo + chunk < n ? lo + chunk : n;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = lo; i < hi; ++i) s += term(i);
    partial[k] = s;
  }
  double total = 0.0;
  for (int64_t k = 0; k < kChunks; ++k) total += partial[k];
  return total;
}

}  // namespace

void sum_all(int64_t n, const float* x, float alpha, float* out) {
  const double s = deterministic_sum(n, [x](int64_t i) { return static_cast<double>(x[i]); });
  out[0] = static_cast<float>(alpha * s);
}

void dot(int64_t n, const float* a, const float* b, float* out) {
  out[0] = static_cast<float>(deterministic_sum(n, [a, b](int64_t i) { return static_cast<double>(a[i]) * b[i]; }));
}

void channel_sum(int64_t N, int64_t C, int64_t inner, const float* x, float* out) {
  if (inner == 1) {   // (N,C): columns of a row-major matrix; walk rows for contiguous reads
    // Column sums in double without a workspace: one channel block per thread, rows inside.
    constexpr int64_t kBlock = 64;
#pragma omp parallel for if (N * C > kParallelMin)
    for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
      const int64_t c1 = c0 + kBlock < C ? c0 + kBlock : C;
      double acc[kBlock] = {};
      for (int64_t n = 0; n < N; ++n) {
        const float* row = x + n * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
      }
      for (int64_t c = c0; c < c1; ++c) out[c] = static_cast<float>(acc[c - c0]);
    }
    return;
  }
#pragma omp parallel for if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < inner; ++i) s += p[i];
    }
    out[c] = static_cast<float>(s);
  }
}

}  // namespace xmkd::cpu
