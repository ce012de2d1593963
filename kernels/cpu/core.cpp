// Reference kernels the tensor and autograd engine use (kernels/defs/core.def).
#include "kernels/kernels.h"

namespace xmkd::cpu {

void fill(float* y, int64_t n, float value) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

void axpy(int64_t n, float alpha, const float* x, float* y) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace xmkd::cpu
