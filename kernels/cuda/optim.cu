// Fused optimizer updates (kernels/defs/optim.def), one thread per parameter element. The
// expressions are the CPU reference's term by term: fmaf where it calls std::fma, and (built with
// --fmad=false) no other contraction; IEEE division and sqrtf (nvcc's default -prec-div,
// -prec-sqrt). Each element's update is therefore bit-identical to kernels/cpu/optim.cpp.
#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

__global__ void sgd_update_kernel(float* param, const float* grad, float* momentum_buffer, int64_t n, float neg_lr,
                                  float weight_decay, float momentum, float one_minus_dampening, bool nesterov,
                                  bool first_step) {
  XMKD_GRID_STRIDE(i, n) {
    float g = weight_decay != 0.0f ? fmaf(param[i], weight_decay, grad[i]) : grad[i];
    if (momentum_buffer) {
      const float b = first_step ? g : fmaf(g, one_minus_dampening, momentum_buffer[i] * momentum);
      momentum_buffer[i] = b;
      g = nesterov ? fmaf(b, momentum, g) : b;
    }
    param[i] = fmaf(g, neg_lr, param[i]);
  }
}

__global__ void adam_update_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                                   float param_scale, float weight_decay, float beta1, float one_minus_beta1,
                                   float beta2, float one_minus_beta2, float bias_correction2_sqrt, float eps,
                                   float neg_step_size) {
  XMKD_GRID_STRIDE(i, n) {
    const float p = param[i] * param_scale;
    const float g = weight_decay != 0.0f ? fmaf(p, weight_decay, grad[i]) : grad[i];
    const float m = fmaf(g, one_minus_beta1, exp_avg[i] * beta1);
    const float v = fmaf(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = sqrtf(v) / bias_correction2_sqrt + eps;
    param[i] = p + (neg_step_size * m) / denom;
  }
}

}  // namespace

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float neg_lr, float weight_decay,
                float momentum, float one_minus_dampening, bool nesterov, bool first_step) {
  XMKD_LAUNCH_OVER(n, sgd_update_kernel, param, grad, momentum_buffer, n, neg_lr, weight_decay, momentum,
                   one_minus_dampening, nesterov, first_step);
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, float param_scale,
                 float weight_decay, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
                 float bias_correction2_sqrt, float eps, float neg_step_size) {
  XMKD_LAUNCH_OVER(n, adam_update_kernel, param, grad, exp_avg, exp_avg_sq, n, param_scale, weight_decay, beta1,
                   one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size);
}

}  // namespace xmkd::cuda
