// Bilinear resizing with align_corners=false (kernels/defs/pool.def), as kernels/cpu/upsample.cpp.
// Layout: `planes` = N·C image channels of H·W floats (x) and P·Q floats (y), row-major.
//
// Geometry: forward, one thread per output element; backward, one thread per INPUT element that
// gathers from the outputs whose taps touch it, in increasing output order and, within one
// output, in the order the CPU reference scatters the four taps. So there are no atomics, the
// result is deterministic and (with --fmad=false) bit-identical to the CPU.
#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// One output coordinate's two source indices and their weights along one axis (as the CPU).
struct LinearTap {
  int64_t i0, i1;
  float w0, w1;
};

__device__ LinearTap linear_tap(int64_t dst, int64_t in, int64_t out) {
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

__global__ void upsample_bilinear_forward_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                                 const float* x, float* y) {
  XMKD_GRID_STRIDE(idx, planes * P * Q) {
    const int64_t q = idx % Q, p = idx / Q % P, plane = idx / (P * Q);
    const LinearTap h = linear_tap(p, H, P), w = linear_tap(q, W, Q);
    const float* row0 = x + plane * H * W + h.i0 * W;
    const float* row1 = x + plane * H * W + h.i1 * W;
    y[idx] = h.w0 * (w.w0 * row0[w.i0] + w.w1 * row0[w.i1]) + h.w1 * (w.w0 * row1[w.i0] + w.w1 * row1[w.i1]);
  }
}

// The outputs along one axis whose taps may touch input i: the clamped source coordinate of
// output o is about (o + 0.5)·in/out - 0.5 and touches i when it lies in [i - 1, i + 1). The
// range is widened by 2 on each side against rounding; the caller checks each tap exactly.
__device__ void touching_outputs(int64_t i, int64_t in, int64_t out, int64_t* first, int64_t* last) {
  const double ratio = static_cast<double>(out) / static_cast<double>(in);
  const int64_t lo = i <= 1 ? 0 : static_cast<int64_t>(floor((i - 0.5) * ratio - 0.5)) - 2;
  const int64_t hi = static_cast<int64_t>(ceil((i + 1.5) * ratio - 0.5)) + 2;
  *first = lo < 0 ? 0 : lo;
  *last = hi > out - 1 ? out - 1 : hi;
}

// dx[h,w] = Σ over outputs (p,q) in increasing order of the forward weight of (h,w) in y[p,q]
// times dy[p,q], each term added in the CPU's order (i0 i0, i0 i1, i1 i0, i1 i1); a source that
// is both i0 and i1 (clamped at the border) receives both terms, as there.
__global__ void upsample_bilinear_backward_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                                  const float* dy, float* dx) {
  XMKD_GRID_STRIDE(idx, planes * H * W) {
    const int64_t xw = idx % W, xh = idx / W % H, plane = idx / (H * W);
    int64_t p0, p1, q0, q1;
    touching_outputs(xh, H, P, &p0, &p1);
    touching_outputs(xw, W, Q, &q0, &q1);
    float sum = 0.0f;
    for (int64_t p = p0; p <= p1; ++p) {
      const LinearTap h = linear_tap(p, H, P);
      if (h.i0 != xh && h.i1 != xh) continue;
      for (int64_t q = q0; q <= q1; ++q) {
        const LinearTap w = linear_tap(q, W, Q);
        if (w.i0 != xw && w.i1 != xw) continue;
        const float d = dy[(plane * P + p) * Q + q];
        if (h.i0 == xh && w.i0 == xw) sum += h.w0 * w.w0 * d;
        if (h.i0 == xh && w.i1 == xw) sum += h.w0 * w.w1 * d;
        if (h.i1 == xh && w.i0 == xw) sum += h.w1 * w.w0 * d;
        if (h.i1 == xh && w.i1 == xw) sum += h.w1 * w.w1 * d;
      }
    }
    dx[idx] = sum;
  }
}

}  // namespace

void upsample_bilinear_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* x, float* y) {
  XMKD_LAUNCH_OVER(planes * P * Q, upsample_bilinear_forward_kernel, planes, H, W, P, Q, x, y);
}

void upsample_bilinear_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* dy,
                                float* dx) {
  XMKD_LAUNCH_OVER(planes * H * W, upsample_bilinear_backward_kernel, planes, H, W, P, Q, dy, dx);
}

}  // namespace xmkd::cuda
