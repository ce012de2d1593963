// Max, adaptive-average and global-average pooling (kernels/defs/pool.def).
// Every kernel is parallel over planes (one (n, c) channel each): a plane of dx belongs to one thread.
#include <cstring>
#include <limits>

#include "kernels/kernels.h"

namespace xmkd::cpu {

void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
    const float* xp = x + plane * HW;
    for (int64_t p = 0; p < g.P; ++p) {
      const int64_t h0 = p * g.stride - g.pad;
      const int64_t h_begin = h0 < 0 ? 0 : h0, h_end = h0 + g.kernel < g.H ? h0 + g.kernel : g.H;
      for (int64_t q = 0; q < g.Q; ++q) {
        const int64_t w0 = q * g.stride - g.pad;
        const int64_t w_begin = w0 < 0 ? 0 : w0, w_end = w0 + g.kernel < g.W ? w0 + g.kernel : g.W;
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_index = h_begin * g.W + w_begin;
        for (int64_t h = h_begin; h < h_end; ++h)
          for (int64_t w = w_begin; w < w_end; ++w) {
            const float v = xp[h * g.W + w];
            if (v > best || v != v) {   // the first maximum wins; NaN propagates
              best = v;
              best_index = h * g.W + w;
            }
          }
        y[plane * PQ + p * g.Q + q] = best;
        argmax[plane * PQ + p * g.Q + q] = static_cast<int32_t>(best_index);
      }
    }
  }
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q;
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
    float* dxp = dx + plane * HW;
    std::memset(dxp, 0, sizeof(float) * HW);
    for (int64_t i = 0; i < PQ; ++i) dxp[argmax[plane * PQ + i]] += dy[plane * PQ + i];
  }
}

namespace {
// PyTorch's adaptive bins: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉)
int64_t bin_begin(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
}  // namespace

void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* x,
                                 float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h_begin = bin_begin(p, H, P), h_end = bin_end(p, H, P);
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t w_begin = bin_begin(q, W, Q), w_end = bin_end(q, W, Q);
        float sum = 0.0f;
        for (int64_t h = h_begin; h < h_end; ++h)
          for (int64_t w = w_begin; w < w_end; ++w) sum += xp[h * W + w];
        y[(plane * P + p) * Q + q] = sum / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
      }
    }
  }
}

void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, const float* dy,
                                  float* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* dxp = dx + plane * H * W;
    std::memset(dxp, 0, sizeof(float) * H * W);
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h_begin = bin_begin(p, H, P), h_end = bin_end(p, H, P);
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t w_begin = bin_begin(q, W, Q), w_end = bin_end(q, W, Q);
        const float share = dy[(plane * P + p) * Q + q] / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
        for (int64_t h = h_begin; h < h_end; ++h)
          for (int64_t w = w_begin; w < w_end; ++w) dxp[h * W + w] += share;
      }
    }
  }
}

void global_avg_pool_forward(int64_t planes, int64_t hw, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (planes * hw > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * hw;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < hw; ++i) sum += xp[i];
    y[plane] = sum / static_cast<float>(hw);
  }
}

void global_avg_pool_backward(int64_t planes, int64_t hw, const float* dy, float* dx) {
#pragma omp parallel for schedule(static) if (planes * hw > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float share = dy[plane] / static_cast<float>(hw);
    float* dxp = dx + plane * hw;
    for (int64_t i = 0; i < hw; ++i) dxp[i] = share;
  }
}

}  // namespace xmkd::cpu
