// Module: a node of the model tree holding named parameters, buffers and child modules.
// Names follow PyTorch/torchvision: a parameter `weight` of child `conv1` of child `layer1.0`
// is "layer1.0.conv1.weight", so a torchvision state dict maps onto xmkd without renaming.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace xmkd {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;   // in registration order
using TensorMap = std::map<std::string, Tensor>;                    // a state dict

class Module {
 public:
  virtual ~Module() = default;

  // Single-input modules (layers, Sequential) override this; models with several inputs or
  // outputs have their own methods and leave it throwing.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors named_parameters() const;           // recursive, "child.name"
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;              // e.g. "bn1.running_mean"
  TensorMap state_dict() const;                    // parameters and buffers, sharing their data
  // Copies every entry into this module's tensors. strict: the key sets must match exactly.
  // Errors name the key (and `source`, e.g. the file) with expected vs found shape and dtype.
  void load_state_dict(const TensorMap& state, bool strict = true, const std::string& source = "state dict");

  void train(bool on = true);                      // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);                          // moves parameters and buffers in place
  void zero_grad();
  int64_t num_parameters() const;

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers a float32 leaf that requires grad; returns the same tensor (shared handle).
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace xmkd
