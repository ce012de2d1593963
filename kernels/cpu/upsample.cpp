// Bilinear resizing with align_corners=false (kernels/defs/pool.def), computed in float exactly
// as PyTorch's CPU kernel so that results match it bit for bit where the arithmetic allows.
#include <cstring>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

// One output coordinate's two source indices and their weights along one axis.
struct LinearTap {
  int64_t i0, i1;
  float w0, w1;
};

LinearTap linear_tap(int64_t dst, int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  LinearTap t;
  t.i0 = static_cast<int64_t>(src);
  t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
  t.w1 = src - static_cast<float>(t.i0);
  t.w0 = 1.0f - t.w1;
  return t;
}

}  // namespace

void upsample_bilinear_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* x, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* yp = y + plane * P * Q;
    for (int64_t p = 0; p < P; ++p) {
      const LinearTap h = linear_tap(p, H, P);
      const float* row0 = xp + h.i0 * W;
      const float* row1 = xp + h.i1 * W;
      for (int64_t q = 0; q < Q; ++q) {
        const LinearTap w = linear_tap(q, W, Q);
        yp[p * Q + q] = h.w0 * (w.w0 * row0[w.i0] + w.w1 * row0[w.i1]) + h.w1 * (w.w0 * row1[w.i0] + w.w1 * row1[w.i1]);
      }
    }
  }
}

void upsample_bilinear_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* dy,
                                float* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* dxp = dx + plane * H * W;
    const float* dyp = dy + plane * P * Q;
    std::memset(dxp, 0, sizeof(float) * H * W);
    for (int64_t p = 0; p < P; ++p) {
      const LinearTap h = linear_tap(p, H, P);
      float* row0 = dxp + h.i0 * W;
      float* row1 = dxp + h.i1 * W;
      for (int64_t q = 0; q < Q; ++q) {
        const LinearTap w = linear_tap(q, W, Q);
        const float d = dyp[p * Q + q];
        row0[w.i0] += h.w0 * w.w0 * d;
        row0[w.i1] += h.w0 * w.w1 * d;
        row1[w.i0] += h.w1 * w.w0 * d;
        row1[w.i1] += h.w1 * w.w1 * d;
      }
    }
  }
}

}  // namespace xmkd::cpu
