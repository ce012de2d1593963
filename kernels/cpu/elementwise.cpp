// Elementwise reference kernels (kernels/defs/elementwise.def). Each loop is independent per
// element: `omp parallel for simd` splits it across threads when there is enough work and lets
// the compiler vectorise each thread's range.
#include <cstdint>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void add_forward(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void sub_forward(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i];
}

void mul_forward(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void add_scalar_tensor(int64_t n, const float* a, const float* s, float* y) {
  const float v = s[0];
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + v;
}

void mul_scalar_tensor(int64_t n, const float* a, const float* s, float* y) {
  const float v = s[0];
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * v;
}

void scale_forward(int64_t n, float s, const float* x, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}

void bias_add(int64_t N, int64_t C, int64_t inner, const float* x, const float* bias, float* y) {
  if (inner == 1) {   // (N,C): one row of C per sample
#pragma omp parallel for if (N * C > kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * C;
      float* yr = y + n * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] + bias[c];
    }
    return;
  }
#pragma omp parallel for if (N * C * inner > kParallelMin)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float b = bias[nc % C];
    const float* xp = x + nc * inner;
    float* yp = y + nc * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] + b;
  }
}

void relu_forward(int64_t n, const float* x, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void add_relu_forward(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float s = a[i] + b[i];
    y[i] = s > 0.0f ? s : 0.0f;
  }
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void broadcast_scalar(int64_t n, const float* s, float alpha, float* y) {
  const float v = alpha * s[0];
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = v;
}

}  // namespace xmkd::cpu
