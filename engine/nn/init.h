// Parameter initialisation, drawing from a Generator (the default one unless given), with the
// formulas of torch.nn.init. fan_in = in_channels * k * k, fan_out = out_channels * k * k.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace xmkd::nn::init {

int64_t fan_in(const Tensor& weight);    // weight: (out, in, ...) -> in * prod(...)
int64_t fan_out(const Tensor& weight);   // -> out * prod(...)

void uniform_(Tensor& t, float lo, float hi, Generator& gen = default_generator());
void normal_(Tensor& t, float mean, float stddev, Generator& gen = default_generator());
void constant_(Tensor& t, float value);
// kaiming_uniform_(a=√5): U(-b, b) with b = √(6 / ((1 + a²) fan_in)) = 1/√fan_in  (torch's default)
void kaiming_uniform_default_(Tensor& weight, Generator& gen = default_generator());
// kaiming_normal_(mode='fan_out', nonlinearity='relu'): N(0, 2/fan_out)  (torchvision ResNet convs)
void kaiming_normal_fan_out_relu_(Tensor& weight, Generator& gen = default_generator());

}  // namespace xmkd::nn::init
