#include "engine/nn/module.h"

#include <set>

namespace xmkd {

Tensor Module::forward(const Tensor&) {
  fail("this module has no single-input forward(); call its own methods");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_dtype("register_parameter", name.c_str(), t, DType::Float32);
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_defined("register_buffer", name.c_str(), t);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [name, t] : params ? params_ : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

TensorMap Module::state_dict() const {
  TensorMap out;
  for (auto& [name, t] : named_parameters()) out[name] = t;
  for (auto& [name, t] : named_buffers()) out[name] = t;
  return out;
}

void Module::load_state_dict(const TensorMap& state, bool strict, const std::string& source) {
  TensorMap mine = state_dict();
  std::vector<std::string> missing, unexpected;
  for (auto& [name, t] : mine)
    if (!state.count(name)) missing.push_back(name);
  for (auto& [name, t] : state)
    if (!mine.count(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::string msg = "load_state_dict from " + source + ": keys do not match the model.";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg += str_cat(" ", what, " (", keys.size(), "):");
      for (size_t i = 0; i < keys.size() && i < 10; ++i) msg += " " + keys[i];
      if (keys.size() > 10) msg += " ...";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    fail(msg);
  }
  for (auto& [name, dst] : mine) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    const Tensor& src = it->second;
    XMKD_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "load_state_dict from ", source,
               ": key '", name, "' is ", src.str(), " but the model expects ", dtype_name(dst.dtype()), " ",
               shape_str(dst.shape()));
    Tensor target = dst;
    target.copy_from(src);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  for (auto& [name, t] : params_) t.move_to_(device);
  for (auto& [name, t] : buffers_) t.move_to_(device);
  for (auto& [name, child] : children_) child->to(device);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

}  // namespace xmkd
