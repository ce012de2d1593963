// The building blocks of the models, with torchvision's parameter names and default
// initialisation (engine/nn/init.h). Each is a Module with a single-input forward().
#pragma once
#include <memory>
#include <vector>

#include "engine/nn/module.h"
#include "engine/ops.h"

namespace xmkd::nn {

// weight: (out, in, k, k), bias: (out). Default init as torch.nn.Conv2d: kaiming_uniform(a=√5)
// for the weight, U(-1/√fan_in, 1/√fan_in) for the bias.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride = 1, int padding = 0,
         int dilation = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;   // bias undefined when bias=false
  Conv2dOptions options;
};

// Shared by BatchNorm2d (x: (N,C,H,W)) and BatchNorm1d (x: (N,C)). weight=1, bias=0,
// running_mean=0, running_var=1, num_batches_tracked=0 (int64, as torch). In training, while
// engine/distributed.h's batchnorm_communicator() is set, it normalises with the statistics of
// every rank's batch (sync_batch_norm).
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t channels, int expected_ndim, float eps = 1e-5f, float momentum = 0.1f);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  float eps, momentum;

 private:
  int expected_ndim_;
};
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t channels, float eps = 1e-5f, float momentum = 0.1f)
      : BatchNorm(channels, 4, eps, momentum) {}
};
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t channels, float eps = 1e-5f, float momentum = 0.1f)
      : BatchNorm(channels, 2, eps, momentum) {}
};

// weight: (out, in), bias: (out). Default init as torch.nn.Linear.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0) : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel, stride, padding); }
  int kernel, stride, padding;
};

// Children are named "0", "1", ... as torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() = default;
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    layers_.push_back(module);
    return register_module(std::to_string(layers_.size() - 1), module);
  }
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace xmkd::nn
