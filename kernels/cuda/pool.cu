// Pooling (kernels/defs/pool.def; bilinear resizing is in upsample.cu). Layout: `planes` = N·C
// image channels of H·W floats (x) and P·Q floats (y), row-major.
//
// Geometry: one thread per output element for the forward passes, one thread per INPUT element
// for the backward passes. Backward is a gather: each input pixel finds the outputs whose window
// covers it and sums their contributions itself, in increasing output order, which is the order
// in which the CPU reference scatters them. So there are no atomics, the result is
// deterministic, and (with --fmad=false) bit-identical to the CPU. Only global average pooling
// differs: its sums run in double here, in float lanes on the CPU.
#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// ---- max pooling: windows of kernel × kernel, stride, zero-size padding that never wins ----

__global__ void max_pool2d_forward_kernel(Pool2dGeometry g, const float* x, float* y, int32_t* argmax) {
  const int64_t total = g.N * g.C * g.P * g.Q;
  XMKD_GRID_STRIDE(idx, total) {
    const int64_t q = idx % g.Q, p = idx / g.Q % g.P, plane = idx / (g.P * g.Q);
    const float* xp = x + plane * g.H * g.W;
    const int64_t h0 = p * g.stride - g.pad, w0 = q * g.stride - g.pad;
    const int64_t h_begin = h0 < 0 ? 0 : h0, h_end = h0 + g.kernel < g.H ? h0 + g.kernel : g.H;
    const int64_t w_begin = w0 < 0 ? 0 : w0, w_end = w0 + g.kernel < g.W ? w0 + g.kernel : g.W;
    float best = -INFINITY;
    int64_t best_index = h_begin * g.W + w_begin;
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t w = w_begin; w < w_end; ++w) {
        const float v = xp[h * g.W + w];
        if (v > best || v != v) {   // the first maximum wins; NaN propagates
          best = v;
          best_index = h * g.W + w;
        }
      }
    y[idx] = best;
    argmax[idx] = static_cast<int32_t>(best_index);
  }
}

// The outputs o along one axis whose window [o·stride - pad, o·stride - pad + kernel) holds
// input coordinate i: o in [first, last], clipped to [0, out).
__device__ void covering_windows(int64_t i, int64_t kernel, int64_t stride, int64_t pad, int64_t out,
                                 int64_t* first, int64_t* last) {
  const int64_t hi = i + pad;                 // o·stride <= hi
  const int64_t lo = hi - kernel + 1;         // o·stride >= lo
  *first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  *last = hi / stride < out - 1 ? hi / stride : out - 1;
}

// dx[pixel] = Σ dy[o] over the outputs o (in increasing order) that chose this pixel.
__global__ void max_pool2d_backward_kernel(Pool2dGeometry g, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  XMKD_GRID_STRIDE(idx, total) {
    const int64_t w = idx % g.W, h = idx / g.W % g.H, plane = idx / (g.H * g.W);
    const int32_t self = static_cast<int32_t>(h * g.W + w);
    int64_t p0, p1, q0, q1;
    covering_windows(h, g.kernel, g.stride, g.pad, g.P, &p0, &p1);
    covering_windows(w, g.kernel, g.stride, g.pad, g.Q, &q0, &q1);
    float sum = 0.0f;
    for (int64_t p = p0; p <= p1; ++p)
      for (int64_t q = q0; q <= q1; ++q) {
        const int64_t o = (plane * g.P + p) * g.Q + q;
        if (argmax[o] == self) sum += dy[o];
      }
    dx[idx] = sum;
  }
}

// ---- adaptive average pooling: bin i covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) ----

__device__ int64_t bin_begin(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

__global__ void adaptive_avg_pool2d_forward_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                                   const float* x, float* y) {
  XMKD_GRID_STRIDE(idx, planes * P * Q) {
    const int64_t q = idx % Q, p = idx / Q % P, plane = idx / (P * Q);
    const float* xp = x + plane * H * W;
    const int64_t h_begin = bin_begin(p, H, P), h_end = bin_end(p, H, P);
    const int64_t w_begin = bin_begin(q, W, Q), w_end = bin_end(q, W, Q);
    float sum = 0.0f;
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t w = w_begin; w < w_end; ++w) sum += xp[h * W + w];
    y[idx] = sum / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
  }
}

// Bin o covers i exactly when o >= ⌊i·out/in⌋ (its end lies past i) and bin_begin(o) <= i; bins
// begin in increasing order, so the walk stops at the first bin beginning after i.
__global__ void adaptive_avg_pool2d_backward_kernel(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                                    const float* dy, float* dx) {
  XMKD_GRID_STRIDE(idx, planes * H * W) {
    const int64_t w = idx % W, h = idx / W % H, plane = idx / (H * W);
    float sum = 0.0f;
    for (int64_t p = h * P / H; p < P && bin_begin(p, H, P) <= h; ++p) {
      const int64_t h_begin = bin_begin(p, H, P), h_end = bin_end(p, H, P);
      if (h >= h_end) continue;
      for (int64_t q = w * Q / W; q < Q && bin_begin(q, W, Q) <= w; ++q) {
        const int64_t w_begin = bin_begin(q, W, Q), w_end = bin_end(q, W, Q);
        if (w >= w_end) continue;
        sum += dy[(plane * P + p) * Q + q] / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
      }
    }
    dx[idx] = sum;
  }
}

// ---- global average pooling: one block per plane ----

__global__ void global_avg_pool_forward_kernel(int64_t hw, const float* x, float* y) {
  const float* xp = x + static_cast<int64_t>(blockIdx.x) * hw;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < hw; i += kThreads) s += xp[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[blockIdx.x] = static_cast<float>(s) / static_cast<float>(hw);
}

__global__ void global_avg_pool_backward_kernel(int64_t planes, int64_t hw, const float* dy, float* dx) {
  XMKD_GRID_STRIDE(idx, planes * hw) dx[idx] = dy[idx / hw] / static_cast<float>(hw);
}

}  // namespace

void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, int32_t* argmax) {
  XMKD_LAUNCH_OVER(g.N * g.C * g.P * g.Q, max_pool2d_forward_kernel, g, x, y, argmax);
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax, float* dx) {
  XMKD_LAUNCH_OVER(g.N * g.C * g.H * g.W, max_pool2d_backward_kernel, g, dy, argmax, dx);
}

void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* x,
                                 float* y) {
  XMKD_LAUNCH_OVER(planes * P * Q, adaptive_avg_pool2d_forward_kernel, planes, H, W, P, Q, x, y);
}

void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* dy,
                                  float* dx) {
  XMKD_LAUNCH_OVER(planes * H * W, adaptive_avg_pool2d_backward_kernel, planes, H, W, P, Q, dy, dx);
}

void global_avg_pool_forward(int64_t planes, int64_t hw, const float* x, float* y) {
  if (planes == 0) return;
  XMKD_CHECK(planes < (int64_t{1} << 31), "global_avg_pool: ", planes, " planes exceed the CUDA grid");
  global_avg_pool_forward_kernel<<<static_cast<unsigned>(planes), kThreads, 0, stream()>>>(hw, x, y);
  XMKD_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_backward(int64_t planes, int64_t hw, const float* dy, float* dx) {
  XMKD_LAUNCH_OVER(planes * hw, global_avg_pool_backward_kernel, planes, hw, dy, dx);
}

}  // namespace xmkd::cuda
