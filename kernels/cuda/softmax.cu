// Softmax and log-softmax over dim 1 (kernels/defs/softmax_loss.def), as kernels/cpu/softmax.cpp:
// max-subtraction keeps exp() in range, sums run in double. Layout and geometry: positions.cuh
// (a warp per row when inner == 1, a thread per position otherwise). The float exp and log are
// CUDA's (within 2 ulp), not glibc's, so results agree with the CPU to a few ulp, not bit for bit.
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

template <int kLanes>
__device__ float position_max(const float* x, int64_t C, int64_t inner, int lane) {
  float m = -INFINITY;
  for (int64_t c = lane; c < C; c += kLanes) m = MaxOp{}(m, x[c * inner]);
  return group_reduce<kLanes>(m, MaxOp{});
}

template <int kLanes>
__global__ void softmax_forward_kernel(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const float* xp = x + position_base(p, C, inner);
    float* yp = y + position_base(p, C, inner);
    const float m = position_max<kLanes>(xp, C, inner, lane);
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      const float e = expf(xp[c * inner] - m);
      yp[c * inner] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / group_reduce<kLanes>(sum, SumOp{}));
    for (int64_t c = lane; c < C; c += kLanes) yp[c * inner] *= inv;
  }
}

// dx = y ⊙ (g - Σ_c g ⊙ y)
template <int kLanes>
__global__ void softmax_backward_kernel(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner,
                                        float* dx) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double dot = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) dot += static_cast<double>(g[base + c * inner]) * y[base + c * inner];
    const float d = static_cast<float>(group_reduce<kLanes>(dot, SumOp{}));
    for (int64_t c = lane; c < C; c += kLanes) dx[base + c * inner] = y[base + c * inner] * (g[base + c * inner] - d);
  }
}

template <int kLanes>
__global__ void log_softmax_forward_kernel(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const float* xp = x + position_base(p, C, inner);
    float* yp = y + position_base(p, C, inner);
    const float m = position_max<kLanes>(xp, C, inner, lane);
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) sum += expf(xp[c * inner] - m);
    const float log_sum = static_cast<float>(log(group_reduce<kLanes>(sum, SumOp{})));
    for (int64_t c = lane; c < C; c += kLanes) yp[c * inner] = (xp[c * inner] - m) - log_sum;
  }
}

// dx = g - exp(y) · Σ_c g
template <int kLanes>
__global__ void log_softmax_backward_kernel(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner,
                                            float* dx) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double gsum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) gsum += g[base + c * inner];
    const float s = static_cast<float>(group_reduce<kLanes>(gsum, SumOp{}));
    for (int64_t c = lane; c < C; c += kLanes)
      dx[base + c * inner] = g[base + c * inner] - expf(y[base + c * inner]) * s;
  }
}

}  // namespace

void softmax_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), softmax_forward_kernel, x, outer, C, inner, y);
}

void softmax_backward(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner, float* dx) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), softmax_backward_kernel, y, g, outer, C, inner,
                        dx);
}

void log_softmax_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float* y) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), log_softmax_forward_kernel, x, outer, C, inner,
                        y);
}

void log_softmax_backward(const float* y, const float* g, int64_t outer, int64_t C, int64_t inner, float* dx) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), log_softmax_backward_kernel, y, g, outer, C,
                        inner, dx);
}

}  // namespace xmkd::cuda
