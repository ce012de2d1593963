// The definition of conv2d as direct loops accumulated in double, and the float32 rounding
// tolerance of a GEMM-style sum: the reference of tests/ops/test_conv*.cpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/ops.h"

namespace xmkd::testing {

struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, P, Q, stride, pad, dil;
};

inline ConvGeometry geometry_of(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  ConvGeometry g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), 0, 0,
                 o.stride, o.padding, o.dilation};
  g.P = (g.H + 2 * g.pad - g.dil * (g.R - 1) - 1) / g.stride + 1;
  g.Q = (g.W + 2 * g.pad - g.dil * (g.S - 1) - 1) / g.stride + 1;
  return g;
}

// The input pixel read by output (p, q) at kernel tap (r, s), or false when it is padding.
inline bool source_pixel(const ConvGeometry& g, int64_t p, int64_t q, int64_t r, int64_t s, int64_t& h,
                         int64_t& w) {
  h = p * g.stride - g.pad + r * g.dil;
  w = q * g.stride - g.pad + s * g.dil;
  return h >= 0 && h < g.H && w >= 0 && w < g.W;
}

// The definition of the convolution, accumulated in double.
inline Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  const ConvGeometry g = geometry_of(x, w, o);
  std::vector<float> xs = x.to_vector<float>(), ws = w.to_vector<float>();
  std::vector<float> bs = b.defined() ? b.to_vector<float>() : std::vector<float>(g.K, 0.0f);
  std::vector<float> y(g.N * g.K * g.P * g.Q);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k)
      for (int64_t p = 0; p < g.P; ++p)
        for (int64_t q = 0; q < g.Q; ++q) {
          double acc = bs[k];
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t r = 0; r < g.R; ++r)
              for (int64_t s = 0; s < g.S; ++s) {
                int64_t h, v;
                if (!source_pixel(g, p, q, r, s, h, v)) continue;
                acc += static_cast<double>(ws[((k * g.C + c) * g.R + r) * g.S + s]) * xs[((n * g.C + c) * g.H + h) * g.W + v];
              }
          y[((n * g.K + k) * g.P + p) * g.Q + q] = static_cast<float>(acc);
        }
  return Tensor::from_vector(y, {g.N, g.K, g.P, g.Q});
}

// dx, dw, db of Σ y·dy by the chain rule on the same loops.
inline void naive_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Conv2dOptions& o,
                                  Tensor& dx, Tensor& dw, Tensor& db) {
  const ConvGeometry g = geometry_of(x, w, o);
  std::vector<float> xs = x.to_vector<float>(), ws = w.to_vector<float>(), dys = dy.to_vector<float>();
  std::vector<double> dxs(xs.size(), 0.0), dws(ws.size(), 0.0), dbs(g.K, 0.0);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k)
      for (int64_t p = 0; p < g.P; ++p)
        for (int64_t q = 0; q < g.Q; ++q) {
          const double d = dys[((n * g.K + k) * g.P + p) * g.Q + q];
          dbs[k] += d;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t r = 0; r < g.R; ++r)
              for (int64_t s = 0; s < g.S; ++s) {
                int64_t h, v;
                if (!source_pixel(g, p, q, r, s, h, v)) continue;
                const int64_t xi = ((n * g.C + c) * g.H + h) * g.W + v, wi = ((k * g.C + c) * g.R + r) * g.S + s;
                dxs[xi] += d * ws[wi];
                dws[wi] += d * xs[xi];
              }
        }
  auto to_tensor = [](const std::vector<double>& v, const Shape& shape) {
    return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), shape);
  };
  dx = to_tensor(dxs, x.shape());
  dw = to_tensor(dws, w.shape());
  db = to_tensor(dbs, {g.K});
}

// The float32 rounding a GEMM may accumulate over `terms` products of rms size `scale`: about
// u·terms·scale for unit roundoff u = 6e-8 (random-walk error of a sum whose partial sums grow
// like √terms); 8x that leaves room for blocking without hiding a wrong term (an error of one
// product is `scale`, far above this).
inline double accumulation_atol(int64_t terms, double scale) { return 8 * 6e-8 * static_cast<double>(terms) * scale; }

// Winograd F(m x m, 3x3) (kernels/cpu/conv2d_winograd.cpp) computes the same sums re-associated,
// which changes the two factors of the estimate above:
// - the rounding chain of an output: the roundings of the input transform, the filter transform,
//   1 product, C - 1 in the GEMM's sum over channels, the output transform and 1 for the bias
//   (WinogradBounds::chain: 2 + 4 + 4 at m = 2, so C + 11 in place of 9C; 6 + 6 + 6 at m = 4);
// - the size of a link: one channel's term Aᵀ(U ⊙ V)A, expanded into products w·x, has absolute
//   coefficients summing to at most growth², where the direct sum has 9 products of weight 1;
//   per dimension growth = max_o Σ_i |Aᵀ|_oi (|G|·1)_i (|Bᵀ|·1)_i, computed from the matrices
//   below: 8 at m = 2 (entries 0, ±½, ±1), 48 at m = 4 (entries up to 8 and down to 1/24).
// So the estimate takes C + chain terms of size growth²·scale. dx is the same 3x3 conv of dy (K
// for C). The bound assumes every sign aligned: measured errors on random data are a few percent
// of it, and one wrong term, an error of size `scale`, stays above it by 10x (m = 4) to hundreds
// of times (m = 2) for the channel counts tested.
// dw = Gᵀ [Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ x_t B)] G sums over the T tiles: the input and output-gradient
// transforms' roundings, 1 product, T - 1 in the GEMM and those of Gᵀ·G (T + 8 at m = 2, T + 18
// at m = 4); a tile's term carries at most dw_growth² products dy·x, per dimension
// max_r Σ_i |G|_ir (|A|·1)_i (|Bᵀ|·1)_i: 6 at m = 2, 53⅓ at m = 4.
struct WinogradBounds {
  int64_t chain, dw_chain;   // roundings besides the GEMM's sum
  double growth, dw_growth;  // per dimension, from the matrices
};

inline WinogradBounds winograd_bounds(int64_t m) {
  // Lavin & Gray's F(2, 3) and F(4, 3): Bᵀ (α x α), G (α x 3), Aᵀ (m x α), α = m + 2.
  static const std::vector<std::vector<double>> bt2 = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static const std::vector<std::vector<double>> g2 = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const std::vector<std::vector<double>> at2 = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  static const std::vector<std::vector<double>> bt4 = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                                       {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                                       {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static const std::vector<std::vector<double>> g4 = {{0.25, 0, 0},
                                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                                      {0, 0, 1}};
  static const std::vector<std::vector<double>> at4 = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  const auto& bt = m == 2 ? bt2 : bt4;
  const auto& g = m == 2 ? g2 : g4;
  const auto& at = m == 2 ? at2 : at4;
  const size_t alpha = bt.size();
  auto row_abs_sum = [](const std::vector<double>& row) {
    double s = 0;
    for (double v : row) s += std::fabs(v);
    return s;
  };
  double growth = 0, dw_growth = 0;
  for (const auto& out : at) {
    double s = 0;
    for (size_t i = 0; i < alpha; ++i) s += std::fabs(out[i]) * row_abs_sum(g[i]) * row_abs_sum(bt[i]);
    growth = std::max(growth, s);
  }
  for (size_t r = 0; r < 3; ++r) {
    double s = 0;
    for (size_t i = 0; i < alpha; ++i) {
      double a = 0;   // (|A|·1)_i = Σ_o |Aᵀ|_oi
      for (const auto& out : at) a += std::fabs(out[i]);
      s += std::fabs(g[i][r]) * a * row_abs_sum(bt[i]);
    }
    dw_growth = std::max(dw_growth, s);
  }
  return m == 2 ? WinogradBounds{11, 8, growth, dw_growth} : WinogradBounds{19, 18, growth, dw_growth};
}

inline double winograd_atol(int64_t channels, double scale, int64_t m = 2) {
  const WinogradBounds b = winograd_bounds(m);
  return accumulation_atol(channels + b.chain, b.growth * b.growth * scale);
}
inline double winograd_dw_atol(int64_t tiles, double scale, int64_t m = 2) {
  const WinogradBounds b = winograd_bounds(m);
  return accumulation_atol(tiles + b.dw_chain, b.dw_growth * b.dw_growth * scale);
}

}  // namespace xmkd::testing
