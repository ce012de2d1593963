// SGD as torch.optim.SGD (single-tensor path): the fused update is kernels/defs/optim.def's sgd_update.
#include "engine/dispatch.h"
#include "engine/optim/optimizer.h"

namespace xmkd::optim {

SGD::SGD(NamedTensors params, const SGDOptions& options) : Optimizer(std::move(params), options.lr), options(options) {
  XMKD_CHECK(options.momentum >= 0 && options.dampening >= 0 && options.weight_decay >= 0, "SGD: momentum (",
             options.momentum, "), dampening (", options.dampening, ") and weight_decay (", options.weight_decay,
             ") must be >= 0");
  XMKD_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum ", options.momentum,
             ", dampening ", options.dampening);
}

void SGD::step() {
  // The float32 constants, each rounded once from double as torch rounds its Python floats.
  const float neg_lr = static_cast<float>(-lr_);
  const float weight_decay = static_cast<float>(options.weight_decay);
  const float momentum = static_cast<float>(options.momentum);
  const float one_minus_dampening = static_cast<float>(1.0 - options.dampening);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i].second;
    const Tensor grad = param.grad();
    if (!grad.defined()) continue;
    check_gradient("SGD", i, grad);
    float* buffer = nullptr;
    bool first_step = false;
    if (options.momentum != 0) {
      first_step = state_[i].count("momentum_buffer") == 0;
      buffer = state(i, "momentum_buffer").data<float>();
    }
    XMKD_DISPATCH(param.device(), sgd_update, param.data<float>(), grad.data<float>(), buffer, param.numel(), neg_lr,
                  weight_decay, momentum, one_minus_dampening, options.nesterov, first_step);
  }
  ++step_;
}

}  // namespace xmkd::optim
