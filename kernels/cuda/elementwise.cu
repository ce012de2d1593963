// Element-wise kernels (kernels/defs/elementwise.def): one element per thread, grid-stride over n.
// Built with --fmad=false (CMakeLists.txt), each expression rounds as written, like the CPU
// reference compiled with -ffp-contract=off: the results are bit-identical to it.
// A "scalar" operand s is a one-element array in device memory, read by every thread.
#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void add_kernel(int64_t n, const float* a, const float* b, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

__global__ void sub_kernel(int64_t n, const float* a, const float* b, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = a[i] - b[i];
}

__global__ void mul_kernel(int64_t n, const float* a, const float* b, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

__global__ void add_scalar_kernel(int64_t n, const float* a, const float* s, float* y) {
  const float v = s[0];
  XMKD_GRID_STRIDE(i, n) y[i] = a[i] + v;
}

__global__ void mul_scalar_kernel(int64_t n, const float* a, const float* s, float* y) {
  const float v = s[0];
  XMKD_GRID_STRIDE(i, n) y[i] = a[i] * v;
}

__global__ void scale_kernel(int64_t n, float s, const float* x, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = s * x[i];
}

// x, y: (N,C,inner), element i belongs to channel (i / inner) % C.
__global__ void bias_add_kernel(int64_t n, int64_t C, int64_t inner, const float* x, const float* bias, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = x[i] + bias[(i / inner) % C];
}

__global__ void relu_kernel(int64_t n, const float* x, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void add_relu_kernel(int64_t n, const float* a, const float* b, float* y) {
  XMKD_GRID_STRIDE(i, n) {
    const float s = a[i] + b[i];
    y[i] = s > 0.0f ? s : 0.0f;
  }
}

__global__ void relu_backward_kernel(int64_t n, const float* y, const float* dy, float* dx) {
  XMKD_GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__global__ void broadcast_scalar_kernel(int64_t n, const float* s, float alpha, float* y) {
  const float v = alpha * s[0];
  XMKD_GRID_STRIDE(i, n) y[i] = v;
}

}  // namespace

void add_forward(int64_t n, const float* a, const float* b, float* y) {
  XMKD_LAUNCH_OVER(n, add_kernel, n, a, b, y);
}
void sub_forward(int64_t n, const float* a, const float* b, float* y) {
  XMKD_LAUNCH_OVER(n, sub_kernel, n, a, b, y);
}
void mul_forward(int64_t n, const float* a, const float* b, float* y) {
  XMKD_LAUNCH_OVER(n, mul_kernel, n, a, b, y);
}
void add_scalar_tensor(int64_t n, const float* a, const float* s, float* y) {
  XMKD_LAUNCH_OVER(n, add_scalar_kernel, n, a, s, y);
}
void mul_scalar_tensor(int64_t n, const float* a, const float* s, float* y) {
  XMKD_LAUNCH_OVER(n, mul_scalar_kernel, n, a, s, y);
}
void scale_forward(int64_t n, float s, const float* x, float* y) {
  XMKD_LAUNCH_OVER(n, scale_kernel, n, s, x, y);
}
void bias_add(int64_t N, int64_t C, int64_t inner, const float* x, const float* bias, float* y) {
  const int64_t n = N * C * inner;
  XMKD_LAUNCH_OVER(n, bias_add_kernel, n, C, inner, x, bias, y);
}
void relu_forward(int64_t n, const float* x, float* y) {
  XMKD_LAUNCH_OVER(n, relu_kernel, n, x, y);
}
void add_relu_forward(int64_t n, const float* a, const float* b, float* y) {
  XMKD_LAUNCH_OVER(n, add_relu_kernel, n, a, b, y);
}
void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  XMKD_LAUNCH_OVER(n, relu_backward_kernel, n, y, dy, dx);
}
void broadcast_scalar(int64_t n, const float* s, float alpha, float* y) {
  XMKD_LAUNCH_OVER(n, broadcast_scalar_kernel, n, s, alpha, y);
}

}  // namespace xmkd::cuda
