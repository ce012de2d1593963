// The optimizer base: parameter bookkeeping, per-parameter state, zero_grad and the state dict.
// The update rules are in sgd.cpp and adam.cpp.
#include "engine/optim/optimizer.h"

#include <algorithm>
#include <set>

namespace xmkd::optim {

Optimizer::Optimizer(NamedTensors params, double lr) : params_(std::move(params)), lr_(lr) {
  XMKD_CHECK(lr >= 0, "Optimizer: learning rate must be >= 0, got ", lr);
  std::set<std::string> seen;
  for (auto& [name, t] : params_) {
    check_dtype("Optimizer", name.c_str(), t, DType::Float32);
    XMKD_CHECK(t.is_leaf(), "Optimizer: parameter '", name, "' is not a leaf tensor");
    XMKD_CHECK(seen.insert(name).second, "Optimizer: parameter name '", name, "' appears twice");
  }
  state_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (auto& [name, t] : params_) t.zero_grad();
}

Tensor& Optimizer::state(size_t param_index, const std::string& kind) {
  auto& slot = state_.at(param_index)[kind];
  if (!slot.defined()) {
    const Tensor& p = params_[param_index].second;
    slot = Tensor::zeros(p.shape(), DType::Float32, p.device());
  }
  return slot;
}

std::vector<std::string> Optimizer::state_kinds() const { return {}; }

void Optimizer::check_gradient(const char* optimizer, size_t param_index, const Tensor& grad) const {
  const auto& [name, param] = params_.at(param_index);
  XMKD_CHECK(grad.dtype() == DType::Float32 && grad.shape() == param.shape() && grad.device() == param.device(),
             optimizer, ": the gradient of '", name, "' is ", grad.str(), " but the parameter is ", param.str());
}

TensorMap Optimizer::state_dict() const {
  TensorMap out;
  out["optimizer.step"] = Tensor::from_vector<int64_t>({step_}, {});
  out["optimizer.lr"] = Tensor::scalar(static_cast<float>(lr_));
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto& [kind, t] : state_[i]) out[params_[i].first + "." + kind] = t;
  return out;
}

void Optimizer::load_state_dict(const TensorMap& state) {
  auto scalar_entry = [&](const char* key, DType dtype) -> const Tensor& {
    auto it = state.find(key);
    XMKD_CHECK(it != state.end(), "Optimizer::load_state_dict: missing key '", key, "'");
    XMKD_CHECK(it->second.dtype() == dtype && it->second.numel() == 1, "Optimizer::load_state_dict: '", key,
               "' must be a ", dtype_name(dtype), " scalar, got ", it->second.str());
    return it->second;
  };
  const int64_t step = scalar_entry("optimizer.step", DType::Int64).to_vector<int64_t>()[0];
  const float stored_lr = scalar_entry("optimizer.lr", DType::Float32).item();

  // Every other key is "<parameter name>.<kind>"; parameter names contain dots, kinds do not.
  const std::vector<std::string> kinds = state_kinds();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;
  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (auto& [key, t] : state) {
    if (key == "optimizer.step" || key == "optimizer.lr") continue;
    const size_t dot = key.rfind('.');
    const std::string name = dot == std::string::npos ? "" : key.substr(0, dot);
    const std::string kind = dot == std::string::npos ? key : key.substr(dot + 1);
    auto p = index.find(name);
    XMKD_CHECK(p != index.end() && std::find(kinds.begin(), kinds.end(), kind) != kinds.end(),
               "Optimizer::load_state_dict: unexpected key '", key, "' (expected optimizer.step, optimizer.lr or ",
               "<parameter>.<kind> with a parameter of this optimizer and a kind it keeps)");
    const Tensor& param = params_[p->second].second;
    const Shape expected_shape = kind == "step" ? Shape{} : param.shape();
    const DType expected_dtype = kind == "step" ? DType::Int64 : DType::Float32;
    XMKD_CHECK(t.shape() == expected_shape && t.dtype() == expected_dtype, "Optimizer::load_state_dict: key '", key,
               "' is ", t.str(), " but the optimizer expects ", dtype_name(expected_dtype), " ",
               shape_str(expected_shape));
    // A fresh copy on the parameter's device (per-parameter step counters stay on the CPU).
    Tensor copy = Tensor::empty(t.shape(), t.dtype(), kind == "step" ? Device::CPU : param.device());
    copy.copy_from(t);
    loaded[p->second][kind] = copy;
  }
  step_ = step;
  state_ = std::move(loaded);
  // The stored lr is float32: keep this optimizer's exact double when it rounds to the stored value
  // (a resumed run with the same configuration continues bit for bit); otherwise take the stored one.
  if (static_cast<float>(lr_) != stored_lr) lr_ = stored_lr;
}

}  // namespace xmkd::optim
