// Adam and AdamW as torch.optim (single-tensor path): the fused update is adam_update in
// kernels/defs/optim.def. Like torch, each parameter counts its own steps for the bias
// corrections, so a parameter skipped for lack of a gradient does not advance.
#include <cmath>

#include "engine/dispatch.h"
#include "engine/optim/optimizer.h"

namespace xmkd::optim {

Adam::Adam(NamedTensors params, const AdamOptions& options, bool decoupled_weight_decay)
    : Optimizer(std::move(params), options.lr), options(options), decoupled_(decoupled_weight_decay) {
  const char* name = decoupled_ ? "AdamW" : "Adam";
  XMKD_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1, name,
             ": betas must be in [0, 1), got (", options.beta1, ", ", options.beta2, ")");
  XMKD_CHECK(options.eps >= 0 && options.weight_decay >= 0, name, ": eps (", options.eps, ") and weight_decay (",
             options.weight_decay, ") must be >= 0");
}

void Adam::step() {
  const double lr = lr_, beta1 = options.beta1, beta2 = options.beta2, wd = options.weight_decay;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i].second;
    const Tensor grad = param.grad();
    if (!grad.defined()) continue;
    check_gradient(decoupled_ ? "AdamW" : "Adam", i, grad);

    Tensor& step_count = state_[i]["step"];
    if (!step_count.defined()) step_count = Tensor::zeros({}, DType::Int64);
    const int64_t t = ++step_count.data<int64_t>()[0];
    // torch: bias_correction = 1 - beta ** step (Python floats), step_size = lr / bias_correction1.
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));
    const double step_size = lr / bias_correction1;

    float* exp_avg = state(i, "exp_avg").data<float>();
    float* exp_avg_sq = state(i, "exp_avg_sq").data<float>();
    XMKD_DISPATCH(param.device(), adam_update, param.data<float>(), grad.data<float>(), exp_avg, exp_avg_sq,
                  param.numel(), decoupled_ ? static_cast<float>(1.0 - lr * wd) : 1.0f,
                  decoupled_ ? 0.0f : static_cast<float>(wd), static_cast<float>(beta1),
                  static_cast<float>(1.0 - beta1), static_cast<float>(beta2), static_cast<float>(1.0 - beta2),
                  static_cast<float>(std::sqrt(bias_correction2)), static_cast<float>(options.eps),
                  static_cast<float>(-step_size));
  }
  ++step_;
}

}  // namespace xmkd::optim
