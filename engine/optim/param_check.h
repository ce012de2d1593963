// Shared by the optimizers: a parameter's gradient must match it before a fused update touches both.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace xmkd::optim {

inline void check_gradient(const char* optimizer, const std::string& name, const Tensor& param, const Tensor& grad) {
  XMKD_CHECK(grad.dtype() == DType::Float32 && grad.shape() == param.shape() && grad.device() == param.device(),
             optimizer, ": the gradient of '", name, "' is ", grad.str(), " but the parameter is ", param.str());
}

}  // namespace xmkd::optim
