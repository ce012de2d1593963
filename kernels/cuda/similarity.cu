// Cosine similarity and L2 normalisation over dim 1 (kernels/defs/similarity.def), as
// kernels/cpu/similarity.cpp: dot products and squared norms in double, in one pass.
// Layout and geometry: positions.cuh (a warp per row when inner == 1, a thread per position
// otherwise); cosine_similarity_backward, which needs no sum over C, is one thread per element.
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

template <int kLanes>
__global__ void cosine_similarity_forward_kernel(const float* a, const float* b, int64_t outer, int64_t C,
                                                 int64_t inner, float eps, float* y, float* norm_a, float* norm_b) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double dot = 0.0, aa = 0.0, bb = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      const double av = a[base + c * inner], bv = b[base + c * inner];
      dot += av * bv;
      aa += av * av;
      bb += bv * bv;
    }
    dot = group_reduce<kLanes>(dot, SumOp{});
    aa = group_reduce<kLanes>(aa, SumOp{});
    bb = group_reduce<kLanes>(bb, SumOp{});
    if (lane == 0) {
      // Each norm is clamped on its own: max(|a|, eps) · max(|b|, eps).
      const double na = MaxOp{}(sqrt(aa), static_cast<double>(eps));
      const double nb = MaxOp{}(sqrt(bb), static_cast<double>(eps));
      norm_a[p] = static_cast<float>(na);
      norm_b[p] = static_cast<float>(nb);
      y[p] = static_cast<float>(dot / (na * nb));
    }
  }
}

// da = g (b / (|a| |b|) - y a / |a|²), db symmetric, with the clamped norms.
__global__ void cosine_similarity_backward_kernel(const float* a, const float* b, const float* y, const float* norm_a,
                                                  const float* norm_b, const float* g, int64_t outer, int64_t C,
                                                  int64_t inner, float* da, float* db) {
  XMKD_GRID_STRIDE(k, outer * C * inner) {
    const int64_t p = k / (C * inner) * inner + k % inner;
    const float na = norm_a[p], nb = norm_b[p];
    const float g_over_ab = g[p] / (na * nb);
    const float gy_over_aa = g[p] * y[p] / (na * na);
    const float gy_over_bb = g[p] * y[p] / (nb * nb);
    if (da) da[k] = g_over_ab * b[k] - gy_over_aa * a[k];
    if (db) db[k] = g_over_ab * a[k] - gy_over_bb * b[k];
  }
}

template <int kLanes>
__global__ void l2_normalize_forward_kernel(const float* x, int64_t outer, int64_t C, int64_t inner, float eps,
                                            float* y, float* norm) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double xx = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) xx += static_cast<double>(x[base + c * inner]) * x[base + c * inner];
    const float n = static_cast<float>(sqrt(group_reduce<kLanes>(xx, SumOp{})));
    const float denom = MaxOp{}(n, eps);
    if (lane == 0) norm[p] = n;
    for (int64_t c = lane; c < C; c += kLanes) y[base + c * inner] = x[base + c * inner] / denom;
  }
}

// norm >= eps: dx = (g - y (y·g)) / norm;   norm < eps (clamped): dx = g / eps
template <int kLanes>
__global__ void l2_normalize_backward_kernel(const float* y, const float* norm, const float* g, int64_t outer,
                                             int64_t C, int64_t inner, float eps, float* dx) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    if (norm[p] < eps) {   // the same branch for the whole group: norm[p] is one value
      for (int64_t c = lane; c < C; c += kLanes) dx[base + c * inner] = g[base + c * inner] / eps;
      continue;
    }
    double yg = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) yg += static_cast<double>(y[base + c * inner]) * g[base + c * inner];
    const float dot = static_cast<float>(group_reduce<kLanes>(yg, SumOp{}));
    for (int64_t c = lane; c < C; c += kLanes)
      dx[base + c * inner] = (g[base + c * inner] - y[base + c * inner] * dot) / norm[p];
  }
}

}  // namespace

void cosine_similarity_forward(const float* a, const float* b, int64_t outer, int64_t C, int64_t inner, float eps,
                               float* y, float* norm_a, float* norm_b) {
  if (outer * inner == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), cosine_similarity_forward_kernel, a, b, outer,
                        C, inner, eps, y, norm_a, norm_b);
}

void cosine_similarity_backward(const float* a, const float* b, const float* y, const float* norm_a,
                                const float* norm_b, const float* g, int64_t outer, int64_t C, int64_t inner,
                                float* da, float* db) {
  XMKD_LAUNCH_OVER(outer * C * inner, cosine_similarity_backward_kernel, a, b, y, norm_a, norm_b, g, outer, C, inner,
                   da, db);
}

void l2_normalize_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float eps, float* y, float* norm) {
  if (outer * inner == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), l2_normalize_forward_kernel, x, outer, C, inner,
                        eps, y, norm);
}

void l2_normalize_backward(const float* y, const float* norm, const float* g, int64_t outer, int64_t C,
                           int64_t inner, float eps, float* dx) {
  if (outer * inner == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), l2_normalize_backward_kernel, y, norm, g, outer,
                        C, inner, eps, dx);
}

}  // namespace xmkd::cuda
