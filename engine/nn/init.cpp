// Initialisers fill on the CPU from the Generator (so a seed gives the same parameters on every
// device) and copy the values over when the tensor lives on the GPU.
#include "engine/nn/init.h"

#include <cmath>
#include <functional>

#include "engine/dispatch.h"

namespace xmkd::nn::init {
namespace {

void check_weight(const char* fn, const Tensor& weight) {
  check_dtype(fn, "weight", weight, DType::Float32);
  XMKD_CHECK(weight.ndim() >= 2, fn, ": needs a weight of at least 2 dimensions (out, in, ...), got ", weight.str());
}

int64_t receptive_field(const Tensor& weight) {
  int64_t n = 1;
  for (int i = 2; i < weight.ndim(); ++i) n *= weight.dim(i);
  return n;
}

// Writes draw() into every element, in index order, on the CPU; then into t on its device.
void fill_from(Tensor& t, const std::function<float()>& draw) {
  Tensor host = t.device() == Device::CPU ? t : Tensor::empty(t.shape(), DType::Float32, Device::CPU);
  float* p = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i) p[i] = draw();
  if (!host.same_as(t)) t.copy_from(host);
}

}  // namespace

int64_t fan_in(const Tensor& weight) {
  check_weight("fan_in", weight);
  return weight.dim(1) * receptive_field(weight);
}

int64_t fan_out(const Tensor& weight) {
  check_weight("fan_out", weight);
  return weight.dim(0) * receptive_field(weight);
}

void uniform_(Tensor& t, float lo, float hi, Generator& gen) {
  check_dtype("init::uniform_", "t", t, DType::Float32);
  XMKD_CHECK(lo <= hi, "init::uniform_: lo ", lo, " is greater than hi ", hi);
  fill_from(t, [&] { return gen.uniform(lo, hi); });
}

void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  check_dtype("init::normal_", "t", t, DType::Float32);
  XMKD_CHECK(stddev >= 0, "init::normal_: stddev must be >= 0, got ", stddev);
  fill_from(t, [&] { return mean + stddev * gen.normal(); });
}

void constant_(Tensor& t, float value) {
  check_dtype("init::constant_", "t", t, DType::Float32);
  XMKD_DISPATCH(t.device(), fill, t.data<float>(), t.numel(), value);
}

void kaiming_uniform_default_(Tensor& weight, Generator& gen) {
  // gain = √(2 / (1 + a²)) with a = √5, std = gain / √fan_in, bound = √3 · std = 1 / √fan_in.
  const int64_t fan = fan_in(weight);
  XMKD_CHECK(fan > 0, "init::kaiming_uniform_default_: weight ", weight.str(), " has fan_in 0");
  const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan)));
  uniform_(weight, -bound, bound, gen);
}

void kaiming_normal_fan_out_relu_(Tensor& weight, Generator& gen) {
  // gain(relu) = √2, std = gain / √fan_out.
  const int64_t fan = fan_out(weight);
  XMKD_CHECK(fan > 0, "init::kaiming_normal_fan_out_relu_: weight ", weight.str(), " has fan_out 0");
  const float stddev = static_cast<float>(std::sqrt(2.0 / static_cast<double>(fan)));
  normal_(weight, 0.0f, stddev, gen);
}

}  // namespace xmkd::nn::init
