// Mean squared error between two same-shaped tensors (kernels/defs/similarity.def).
#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kParallelWork = 65536;
// Fixed element ranges, each summed in order, then the range sums in order: thread-count independent.
constexpr int64_t kChunks = 64;

}  // namespace

void mse_forward(const float* a, const float* b, int64_t n, float* loss) {
  double chunk_sum[kChunks] = {};
#pragma omp parallel for if (n > kParallelWork)
  for (int64_t k = 0; k < kChunks; ++k) {
    double sum = 0.0;
    for (int64_t i = k * n / kChunks; i < (k + 1) * n / kChunks; ++i) {
      const double d = static_cast<double>(a[i]) - b[i];
      sum += d * d;
    }
    chunk_sum[k] = sum;
  }
  double total = 0.0;
  for (int64_t k = 0; k < kChunks; ++k) total += chunk_sum[k];
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void mse_backward(const float* a, const float* b, int64_t n, const float* grad_loss, float* da, float* db) {
  const float scale = 2.0f * *grad_loss / static_cast<float>(n);
#pragma omp parallel for if (n > kParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    const float d = scale * (a[i] - b[i]);
    if (da) da[i] = d;
    if (db) db[i] = -d;
  }
}

}  // namespace xmkd::cpu
