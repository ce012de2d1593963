// Batch normalisation (kernels/defs/norm.def), the "handwritten" backend of kernels/cuda/backends.h;
// the derivation is in kernels/cpu/batchnorm.cpp.
// Layout x: (N,C,inner); channel c owns the n = N·inner values x[(m·C + c)·inner + i] with
// m < N, i < inner (element j of the channel: m = j / inner, i = j % inner).
//
// Geometry: training forward and backward use one block per channel. The block first reduces
// the channel's sums in double (block_reduce: warp shuffles, then the warp sums), thread 0 turns
// them into the per-channel constants and writes them, and the whole block then applies them to
// the channel's values: one fused kernel, x read twice, no scratch. The statistics use the CPU's
// shifted sums (shift = the channel's first value), so mean and variance agree with it to
// double rounding; the element-wise formulas are the CPU's, term by term.
// Inference forward: one thread per channel for the constants, then one thread per element.
#include <cmath>

#include "kernels/cuda/backends.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__device__ int64_t channel_offset(int64_t j, int64_t C, int64_t c, int64_t inner) {
  return ((j / inner) * C + c) * inner + j % inner;
}

// Σ (x - shift) and Σ (x - shift)² over channel c (blockIdx.x's), in double, on every thread.
__device__ void block_shifted_sums(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x, float shift,
                                   double* sum, double* sum_sq) {
  const int64_t n = N * inner;
  double s = 0.0, s2 = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const double d = static_cast<double>(x[channel_offset(j, C, c, inner)]) - shift;
    s += d;
    s2 += d * d;
  }
  *sum = block_sum(s);
  *sum_sq = block_sum(s2);
}

// Channel c of a training forward from its shifted sums over `count` values (every thread of the
// channel's block derives the same constants; thread 0 writes them, after all have read shift,
// which may be running_mean itself).
__device__ void block_normalise_channel(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x,
                                        const float* weight, const float* bias, double shift, double sum,
                                        double sum_sq, double count, float* running_mean, float* running_var,
                                        float momentum, float eps, float* y, float* save_mean, float* save_invstd) {
  const double shifted_mean = sum / count;
  const double raw_var = sum_sq / count - shifted_mean * shifted_mean;
  const double var = raw_var < 0.0 ? 0.0 : raw_var;   // std::max(raw_var, 0.0), NaN kept
  const float mean_f = static_cast<float>(shift + shifted_mean);
  const float invstd = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  __syncthreads();
  if (threadIdx.x == 0) {
    save_mean[c] = mean_f;
    save_invstd[c] = invstd;
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean_f;
    if (running_var) {
      const float unbiased = static_cast<float>(var * count / (count - 1.0));
      running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    }
  }
  const float a = weight[c] * invstd, b = bias[c];
  const int64_t n = N * inner;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const int64_t k = channel_offset(j, C, c, inner);
    y[k] = (x[k] - mean_f) * a + b;
  }
}

// Channel c of a training dx from Σ g and Σ g·x̂ over `count` values, k_c = γσ⁻¹.
__device__ void block_training_input_gradient(int64_t N, int64_t C, int64_t inner, int64_t c, const float* x,
                                              const float* dy, float k_c, float mean, float invstd, double sum_dy,
                                              double sum_dy_xhat, double count, float* dx) {
  const float mean_dy = static_cast<float>(sum_dy / count);
  const float xc_coef = static_cast<float>(invstd * sum_dy_xhat / count);
  const int64_t n = N * inner;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    const int64_t k = channel_offset(j, C, c, inner);
    dx[k] = k_c * (dy[k] - mean_dy - (x[k] - mean) * xc_coef);
  }
}

__global__ void batchnorm_forward_training_kernel(int64_t N, int64_t C, int64_t inner, const float* x,
                                                  const float* weight, const float* bias, float* running_mean,
                                                  float* running_var, float momentum, float eps, float* y,
                                                  float* save_mean, float* save_invstd) {
  const int64_t c = blockIdx.x;
  const float shift = x[c * inner];
  double sum = 0.0, sum_sq = 0.0;
  block_shifted_sums(N, C, inner, c, x, shift, &sum, &sum_sq);
  block_normalise_channel(N, C, inner, c, x, weight, bias, shift, sum, sum_sq, static_cast<double>(N * inner),
                          running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

__global__ void batchnorm_inference_stats_kernel(int64_t C, const float* running_mean, const float* running_var,
                                                 float eps, float* save_mean, float* save_invstd) {
  XMKD_GRID_STRIDE(c, C) {
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
  }
}

__global__ void batchnorm_inference_apply_kernel(int64_t total, int64_t C, int64_t inner, const float* x,
                                                 const float* weight, const float* bias, const float* save_mean,
                                                 const float* save_invstd, float* y) {
  XMKD_GRID_STRIDE(k, total) {
    const int64_t c = (k / inner) % C;
    y[k] = (x[k] - save_mean[c]) * (weight[c] * save_invstd[c]) + bias[c];
  }
}

// Σ g and Σ g·(x - μ) per channel, then dweight, dbias and dx from them (see norm.def).
__global__ void batchnorm_backward_kernel(int64_t N, int64_t C, int64_t inner, bool training, bool need_sum_dy,
                                          bool need_sum_dy_xc, const float* x, const float* dy, const float* weight,
                                          const float* save_mean, const float* save_invstd, float* dx,
                                          float* dweight, float* dbias) {
  const int64_t c = blockIdx.x, n = N * inner;
  const double count = static_cast<double>(n);
  const float mean = save_mean[c], invstd = save_invstd[c];
  double sum_dy = 0.0, sum_dy_xc = 0.0;
  // The flags are the same for every thread, so every thread calls block_sum as often.
  if (need_sum_dy_xc) {   // the only sum that reads x (null when neither it nor a training dx is wanted)
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      const int64_t k = channel_offset(j, C, c, inner);
      sum_dy += dy[k];
      sum_dy_xc += static_cast<double>(dy[k]) * (x[k] - mean);
    }
    sum_dy = block_sum(sum_dy);
    sum_dy_xc = block_sum(sum_dy_xc);
  } else if (need_sum_dy) {
    for (int64_t j = threadIdx.x; j < n; j += kThreads) sum_dy += dy[channel_offset(j, C, c, inner)];
    sum_dy = block_sum(sum_dy);
  }
  const double sum_dy_xhat = sum_dy_xc * invstd;
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] = static_cast<float>(sum_dy_xhat);
    if (dbias) dbias[c] = static_cast<float>(sum_dy);
  }
  if (!dx) return;
  const float k_c = weight[c] * invstd;
  if (training) {
    block_training_input_gradient(N, C, inner, c, x, dy, k_c, mean, invstd, sum_dy, sum_dy_xhat, count, dx);
  } else {
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      const int64_t k = channel_offset(j, C, c, inner);
      dx[k] = k_c * dy[k];
    }
  }
}

// Synchronised batch norm (norm.def): the fused kernels above split at the sums. Stats and
// backward: one block per channel; the forward's constants are computed by every thread of the
// channel's block from the summed sums, then applied.
__global__ void batchnorm_stats_kernel(int64_t N, int64_t C, int64_t inner, const float* x, const float* shift,
                                       float* sums) {
  const int64_t c = blockIdx.x;
  double sum = 0.0, sum_sq = 0.0;
  block_shifted_sums(N, C, inner, c, x, shift[c], &sum, &sum_sq);
  if (threadIdx.x == 0) {
    sums[c] = static_cast<float>(sum);
    sums[C + c] = static_cast<float>(sum_sq);
    if (c == 0) sums[2 * C] = static_cast<float>(N * inner);
  }
}

__global__ void batchnorm_shifted_mean_kernel(int64_t C, const float* shift, const float* sums, float* mean) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double count = static_cast<double>(sums[2 * C]);
  mean[c] = static_cast<float>(static_cast<double>(shift[c]) + sums[c] / count);
}

__global__ void batchnorm_forward_from_sums_kernel(int64_t N, int64_t C, int64_t inner, const float* x,
                                                   const float* weight, const float* bias, const float* shift,
                                                   const float* sums, float* running_mean,
                                                   float* running_var, float momentum, float eps, float* y,
                                                   float* save_mean, float* save_invstd) {
  const int64_t c = blockIdx.x;
  block_normalise_channel(N, C, inner, c, x, weight, bias, shift[c], sums[c], sums[C + c],
                          static_cast<double>(sums[2 * C]), running_mean, running_var, momentum, eps, y, save_mean,
                          save_invstd);
}

__global__ void batchnorm_backward_from_sums_kernel(int64_t N, int64_t C, int64_t inner, const float* x,
                                                    const float* dy, const float* weight, const float* save_mean,
                                                    const float* save_invstd, const float* sums,
                                                    const float* count, float* dx) {
  const int64_t c = blockIdx.x;
  const float mean = save_mean[c], invstd = save_invstd[c];
  block_training_input_gradient(N, C, inner, c, x, dy, weight[c] * invstd, mean, invstd, sums[c], sums[C + c],
                                static_cast<double>(*count), dx);
}

unsigned channel_blocks(int64_t C) {
  XMKD_CHECK(C < (int64_t{1} << 31), "batch_norm: ", C, " channels exceed the CUDA grid");
  return static_cast<unsigned>(C);
}

}  // namespace

void batchnorm_inference_constants(int64_t C, const float* running_mean, const float* running_var, float eps,
                                   float* save_mean, float* save_invstd) {
  XMKD_LAUNCH_OVER(C, batchnorm_inference_stats_kernel, C, running_mean, running_var, eps, save_mean, save_invstd);
}

void batchnorm_forward_training_handwritten(int64_t N, int64_t C, int64_t inner, const float* x,
                                            const float* weight, const float* bias, float* running_mean,
                                            float* running_var, float momentum, float eps, float* y,
                                            float* save_mean, float* save_invstd) {
  if (C == 0) return;
  batchnorm_forward_training_kernel<<<channel_blocks(C), kThreads, 0, stream()>>>(
      N, C, inner, x, weight, bias, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
  XMKD_CUDA_CHECK_LAUNCH();
}

void batchnorm_forward_inference_handwritten(int64_t N, int64_t C, int64_t inner, const float* x,
                                             const float* weight, const float* bias, const float* running_mean,
                                             const float* running_var, float eps, float* y, float* save_mean,
                                             float* save_invstd) {
  batchnorm_inference_constants(C, running_mean, running_var, eps, save_mean, save_invstd);
  XMKD_LAUNCH_OVER(N * C * inner, batchnorm_inference_apply_kernel, N * C * inner, C, inner, x, weight, bias,
                   save_mean, save_invstd, y);
}

void batchnorm_backward_handwritten(int64_t N, int64_t C, int64_t inner, bool training, const float* x,
                                    const float* dy, const float* weight, const float* save_mean,
                                    const float* save_invstd, float* dx, float* dweight, float* dbias) {
  if (C == 0) return;
  const bool need_sum_dy = dbias || (training && dx);
  const bool need_sum_dy_xc = dweight || (training && dx);
  batchnorm_backward_kernel<<<channel_blocks(C), kThreads, 0, stream()>>>(
      N, C, inner, training, need_sum_dy, need_sum_dy_xc, x, dy, weight, save_mean, save_invstd, dx, dweight, dbias);
  XMKD_CUDA_CHECK_LAUNCH();
}

void batchnorm_stats(int64_t N, int64_t C, int64_t inner, const float* x, const float* shift, float* sums) {
  if (C == 0) return;
  batchnorm_stats_kernel<<<channel_blocks(C), kThreads, 0, stream()>>>(N, C, inner, x, shift, sums);
  XMKD_CUDA_CHECK_LAUNCH();
}

void batchnorm_shifted_mean(int64_t C, const float* shift, const float* sums, float* mean) {
  XMKD_LAUNCH_OVER(C, batchnorm_shifted_mean_kernel, C, shift, sums, mean);
}

void batchnorm_forward_from_sums(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                 const float* bias, const float* shift, const float* sums,
                                 float* running_mean, float* running_var, float momentum, float eps, float* y,
                                 float* save_mean, float* save_invstd) {
  if (C == 0) return;
  batchnorm_forward_from_sums_kernel<<<channel_blocks(C), kThreads, 0, stream()>>>(
      N, C, inner, x, weight, bias, shift, sums, running_mean, running_var, momentum, eps, y, save_mean,
      save_invstd);
  XMKD_CUDA_CHECK_LAUNCH();
}

void batchnorm_backward_from_sums(int64_t N, int64_t C, int64_t inner, const float* x, const float* dy,
                                  const float* weight, const float* save_mean, const float* save_invstd,
                                  const float* sums, const float* count, float* dx) {
  if (C == 0) return;
  batchnorm_backward_from_sums_kernel<<<channel_blocks(C), kThreads, 0, stream()>>>(
      N, C, inner, x, dy, weight, save_mean, save_invstd, sums, count, dx);
  XMKD_CUDA_CHECK_LAUNCH();
}

}  // namespace xmkd::cuda
