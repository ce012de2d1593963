// The definition of conv2d as direct loops accumulated in double, and the float32 rounding
// tolerance of a GEMM-style sum: the reference of tests/ops/test_conv*.cpp.
#pragma once
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

// Winograd F(2x2, 3x3) (kernels/cpu/conv2d_winograd.cpp) computes the same sums re-associated,
// which changes the two factors of the estimate above:
// - the rounding chain of an output: 2 roundings in the input transform, 4 in the filter
//   transform, 1 product, C - 1 in the GEMM's sum over channels, 4 in the output transform and 1
//   for the bias, so C + 11 in place of 9C;
// - the size of a link: one channel's term Aᵀ(U ⊙ V)A, expanded into products w·x, has absolute
//   coefficients summing to at most 64, where the direct sum has 9 products of weight 1. The
//   transforms' entries are 0, ±½, ±1, and per dimension Σ_i |Aᵀ|_oi (|G|·1)_i (|Bᵀ|·1)_i = 8.
// So the estimate takes C + 11 terms of size 64·scale. dx is the same 3x3 conv of dy (K for C).
// The 64 assumes every sign aligned: measured errors on random data are 1-3% of these bounds
// (within the im2col bound, even), and one wrong term, an error of size `scale`, stays hundreds
// of times above them for the channel counts tested.
inline double winograd_atol(int64_t channels, double scale) { return accumulation_atol(channels + 11, 64 * scale); }
// dw = Gᵀ [Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ x_t B)] G sums over the T tiles: 2 + 2 roundings in the
// transforms, 1 product, T - 1 in the GEMM, 4 in Gᵀ·G, so T + 8; a tile's term carries at most
// 36 products dy·x (per dimension Σ_i |G|_ir (|A|·1)_i (|Bᵀ|·1)_i <= 6) where the direct sum has 4.
inline double winograd_dw_atol(int64_t tiles, double scale) { return accumulation_atol(tiles + 8, 36 * scale); }

}  // namespace xmkd::testing
