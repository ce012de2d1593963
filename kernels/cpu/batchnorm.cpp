// Batch normalisation reference kernels (kernels/defs/norm.def).
//
// Layout x: (N,C,inner). Channel c owns N runs of `inner` contiguous floats, so every kernel
// parallelises over channels (`omp parallel for`, each thread a disjoint set of channels: no
// races, no atomics) and walks the runs with `omp simd` inner loops.
//
// Statistics: one pass per channel over shifted values d = x - k, with k = the channel's first
// element, summing d and d² in double: mean = k + Σd/n, var = Σd²/n - (Σd/n)². The shift keeps
// Σd²/n comparable to var even when |mean| >> std (no catastrophic cancellation in the
// subtraction), and double accumulation keeps the rounding of n terms far below float32
// resolution, so the result matches a two-pass float64 computation to float32 precision while
// reading x once.
//
// Backward derivation (per channel, n values, x̂ = (x - μ)σ⁻¹, y = γx̂ + β, g = dL/dy):
//   dL/dx̂ = γg;  dμ/dx = 1/n;  dσ⁻¹/dxᵢ = -σ⁻² x̂ᵢ / n  (from σ² = mean((x-μ)²))
//   dL/dx = γσ⁻¹ (g - Σg/n - x̂ Σ(g x̂)/n) = (γσ⁻¹/n)(n g - Σg - x̂ Σ g x̂)
//   dL/dγ = Σ g x̂,  dL/dβ = Σ g.
// In inference μ and σ come from the running stats (constants), so dL/dx = γσ⁻¹ g.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 14;

// Σ (x - shift) and Σ (x - shift)² over channel c's values, in double.
void shifted_sums(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x, float shift, double* sum,
                  double* sum_sq) {
  double s = 0.0, s2 = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* xp = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : s, s2)
    for (int64_t i = 0; i < inner; ++i) {
      const double d = static_cast<double>(xp[i]) - shift;
      s += d;
      s2 += d * d;
    }
  }
  *sum = s;
  *sum_sq = s2;
}

// y = (x - mean)·a + b over channel c's values.
void normalise_values(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x, float mean, float a, float b,
                      float* y) {
  for (int64_t n = 0; n < N; ++n) {
    const float* xp = x + (n * C + c) * inner;
    float* yp = y + (n * C + c) * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) yp[i] = (xp[i] - mean) * a + b;
  }
}

// Channel c of a training forward from its shifted sums over `count` values: the batch mean and
// biased variance, save_mean / save_invstd, the running statistics (when given), and y.
void normalise_channel(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x, const float* weight,
                       const float* bias, double shift, double sum, double sum_sq, double count,
                       float* running_mean, float* running_var, float momentum, float eps, float* y,
                       float* save_mean, float* save_invstd) {
  const double shifted_mean = sum / count;
  const double var = std::max(sum_sq / count - shifted_mean * shifted_mean, 0.0);
  const float mean_f = static_cast<float>(shift + shifted_mean);
  const float invstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  save_mean[c] = mean_f;
  save_invstd[c] = invstd;
  if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean_f;
  if (running_var) {
    const float unbiased = static_cast<float>(var * count / (count - 1.0));
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
  }
  normalise_values(N, C, inner, c, x, mean_f, weight[c] * invstd, bias[c], y);
}

// Channel c of a training dx from Σ g and Σ g·x̂ over `count` values:
// dx = k (g - Σg/n - (x - μ) σ⁻¹ Σ(g x̂)/n) with k = γσ⁻¹.
void training_input_gradient(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x, const float* dy,
                             float k, float mean, float invstd, double sum_dy, double sum_dy_xhat, double count,
                             float* dx) {
  const float mean_dy = static_cast<float>(sum_dy / count);
  const float xc_coef = static_cast<float>(invstd * sum_dy_xhat / count);
  for (int64_t n = 0; n < N; ++n) {
    const float* xp = x + (n * C + c) * inner;
    const float* gp = dy + (n * C + c) * inner;
    float* dp = dx + (n * C + c) * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) dp[i] = k * (gp[i] - mean_dy - (xp[i] - mean) * xc_coef);
  }
}
}  // namespace

void batchnorm_workspace(int64_t, int64_t* floats) { *floats = 0; }

void batchnorm_forward_training(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                const float* bias, float* running_mean, float* running_var, float momentum,
                                float eps, float* y, float* save_mean, float* save_invstd, float* /*workspace*/) {
  const double count = static_cast<double>(N * inner);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float shift = x[c * inner];
    double sum = 0.0, sum_sq = 0.0;
    shifted_sums(N, C, inner, c, x, shift, &sum, &sum_sq);
    normalise_channel(N, C, inner, c, x, weight, bias, shift, sum, sum_sq, count, running_mean, running_var, momentum,
                      eps, y, save_mean, save_invstd);
  }
}

void batchnorm_forward_inference(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                 const float* bias, const float* running_mean, const float* running_var, float eps,
                                 float* y, float* save_mean, float* save_invstd) {
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = running_mean[c];
    const float invstd =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    normalise_values(N, C, inner, c, x, mean, weight[c] * invstd, bias[c], y);
  }
}

void batchnorm_backward(int64_t N, int64_t C, int64_t inner, bool training, const float* x, const float* dy,
                        const float* weight, const float* save_mean, const float* save_invstd, float /*eps*/,
                        float* dx, float* dweight, float* dbias, float* /*workspace*/) {
  // Σ g·(x - μ) is the only sum that reads x, which is null when neither it nor a training dx is
  // wanted (norm.def).
  const bool need_sum_dy = dbias || (training && dx);
  const bool need_sum_dy_xc = dweight || (training && dx);
  const double count = static_cast<double>(N * inner);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = save_mean[c];
    const float invstd = save_invstd[c];
    double sum_dy = 0.0, sum_dy_xc = 0.0;   // Σ g and Σ g·(x - μ)
    if (need_sum_dy_xc) {
      for (int64_t n = 0; n < N; ++n) {
        const float* xp = x + (n * C + c) * inner;
        const float* gp = dy + (n * C + c) * inner;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (int64_t i = 0; i < inner; ++i) {
          sum_dy += gp[i];
          sum_dy_xc += static_cast<double>(gp[i]) * (xp[i] - mean);
        }
      }
    } else if (need_sum_dy) {
      for (int64_t n = 0; n < N; ++n) {
        const float* gp = dy + (n * C + c) * inner;
#pragma omp simd reduction(+ : sum_dy)
        for (int64_t i = 0; i < inner; ++i) sum_dy += gp[i];
      }
    }
    const double sum_dy_xhat = sum_dy_xc * invstd;
    if (dweight) dweight[c] = static_cast<float>(sum_dy_xhat);
    if (dbias) dbias[c] = static_cast<float>(sum_dy);
    if (!dx) continue;

    const float k = weight[c] * invstd;
    if (training) {
      training_input_gradient(N, C, inner, c, x, dy, k, mean, invstd, sum_dy, sum_dy_xhat, count, dx);
    } else {
      for (int64_t n = 0; n < N; ++n) {
        const float* gp = dy + (n * C + c) * inner;
        float* dp = dx + (n * C + c) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) dp[i] = k * gp[i];
      }
    }
  }
}

// Synchronised batch norm: the statistics of the fused kernel above, split at the sums so that
// the caller can add them up over the ranks in between (norm.def).
void batchnorm_stats(int64_t N, int64_t C, int64_t inner, const float* x, const float* shift, float* sums) {
  sums[2 * C] = static_cast<float>(N * inner);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0, sum_sq = 0.0;
    shifted_sums(N, C, inner, c, x, shift[c], &sum, &sum_sq);
    sums[c] = static_cast<float>(sum);
    sums[C + c] = static_cast<float>(sum_sq);
  }
}

void batchnorm_shifted_mean(int64_t C, const float* shift, const float* sums, float* mean) {
  const double count = static_cast<double>(sums[2 * C]);
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(static_cast<double>(shift[c]) + sums[c] / count);
}

void batchnorm_forward_from_sums(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                 const float* bias, const float* shift, const float* sums,
                                 float* running_mean, float* running_var, float momentum, float eps, float* y,
                                 float* save_mean, float* save_invstd) {
  const double n_all = static_cast<double>(sums[2 * C]);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    normalise_channel(N, C, inner, c, x, weight, bias, shift[c], sums[c], sums[C + c], n_all, running_mean,
                      running_var, momentum, eps, y, save_mean, save_invstd);
  }
}

void batchnorm_backward_from_sums(int64_t N, int64_t C, int64_t inner, const float* x, const float* dy,
                                  const float* weight, const float* save_mean, const float* save_invstd,
                                  const float* sums, const float* count, float* dx) {
  const double n_all = static_cast<double>(*count);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = save_mean[c];
    const float invstd = save_invstd[c];
    training_input_gradient(N, C, inner, c, x, dy, weight[c] * invstd, mean, invstd, sums[c], sums[C + c], n_all, dx);
  }
}

}  // namespace xmkd::cpu
