// Fused optimizer updates (kernels/defs/optim.def). std::fma is exactly rounded on every platform,
// which is what makes these bit-compatible with PyTorch's fused CPU kernels; plain `a * b + c` is
// never contracted here (ISO C++ mode, no -ffast-math), so each expression rounds as written.
#include <cmath>

#include "kernels/kernels.h"

namespace xmkd::cpu {

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float neg_lr, float weight_decay,
                float momentum, float one_minus_dampening, bool nesterov, bool first_step) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    float g = weight_decay != 0.0f ? std::fma(param[i], weight_decay, grad[i]) : grad[i];
    if (momentum_buffer) {
      const float b = first_step ? g : std::fma(g, one_minus_dampening, momentum_buffer[i] * momentum);
      momentum_buffer[i] = b;
      g = nesterov ? std::fma(b, momentum, g) : b;
    }
    param[i] = std::fma(g, neg_lr, param[i]);
  }
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, float param_scale,
                 float weight_decay, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
                 float bias_correction2_sqrt, float eps, float neg_step_size) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float p = param[i] * param_scale;
    const float g = weight_decay != 0.0f ? std::fma(p, weight_decay, grad[i]) : grad[i];
    const float m = std::fma(g, one_minus_beta1, exp_avg[i] * beta1);
    const float v = std::fma(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    param[i] = p + (neg_step_size * m) / denom;
  }
}

}  // namespace xmkd::cpu
