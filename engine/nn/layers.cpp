#include "engine/nn/layers.h"

#include <cmath>

#include "engine/distributed.h"
#include "engine/nn/init.h"

namespace xmkd::nn {
namespace {

// torch's default bias init for Conv2d and Linear: U(-1/√fan_in, 1/√fan_in), fan_in of the weight.
void init_bias_from_weight(Tensor& bias, const Tensor& weight) {
  const int64_t fan = init::fan_in(weight);
  const float bound = fan > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan))) : 0.0f;
  init::uniform_(bias, -bound, bound);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel, int stride, int padding, int dilation,
               bool bias) {
  XMKD_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && padding >= 0 && dilation > 0,
             "Conv2d(in=", in_channels, ", out=", out_channels, ", kernel=", kernel, ", stride=", stride,
             ", padding=", padding, ", dilation=", dilation,
             "): channels, kernel, stride and dilation must be positive, padding >= 0");
  options.stride = stride;
  options.padding = padding;
  options.dilation = dilation;
  weight = register_parameter("weight", Tensor::empty({out_channels, in_channels, kernel, kernel}));
  init::kaiming_uniform_default_(weight);
  if (bias) {
    this->bias = register_parameter("bias", Tensor::empty({out_channels}));
    init_bias_from_weight(this->bias, weight);
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

BatchNorm::BatchNorm(int64_t channels, int expected_ndim, float eps, float momentum)
    : eps(eps), momentum(momentum), expected_ndim_(expected_ndim) {
  XMKD_CHECK(channels > 0, "BatchNorm: channels must be positive, got ", channels);
  XMKD_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "BatchNorm: needs eps > 0 and momentum in [0, 1], got eps ",
             eps, ", momentum ", momentum);
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm::forward(const Tensor& x) {
  const char* name = expected_ndim_ == 4 ? "BatchNorm2d" : "BatchNorm1d";
  check_defined(name, "x", x);
  XMKD_CHECK(x.ndim() == expected_ndim_ && x.dim(1) == weight.dim(0), name, "(", weight.dim(0), "): expects x of shape ",
             expected_ndim_ == 4 ? "(N, C, H, W)" : "(N, C)", " with C = ", weight.dim(0), ", got ", x.str());
  if (is_training()) {
    // A host-side counter: one int64, read and written back when the module lives on the GPU.
    Tensor host = num_batches_tracked.to(Device::CPU);
    host.data<int64_t>()[0] += 1;
    if (!host.same_as(num_batches_tracked)) num_batches_tracked.copy_from(host);
  }
  if (is_training())
    if (Communicator* ranks = batchnorm_communicator())
      return sync_batch_norm(x, weight, bias, running_mean, running_var, *ranks, momentum, eps);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias) {
  XMKD_CHECK(in_features > 0 && out_features > 0, "Linear(in=", in_features, ", out=", out_features,
             "): feature counts must be positive");
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  init::kaiming_uniform_default_(weight);
  if (bias) {
    this->bias = register_parameter("bias", Tensor::empty({out_features}));
    init_bias_from_weight(this->bias, weight);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& layer : layers_) y = layer->forward(y);
  return y;
}

}  // namespace xmkd::nn
