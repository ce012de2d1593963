// nn layers and initialisation: names and shapes as torch.nn, init statistics, state dicts
// through safetensors, load errors, train/eval, devices. (Forward passes are the ops' business
// and are tested with them; these tests construct layers only.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/io/safetensors.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"

namespace xmkd {
namespace {

using nn::BatchNorm1d;
using nn::BatchNorm2d;
using nn::Conv2d;
using nn::Linear;
using nn::Sequential;

// Conv2d(3 -> 8, 3x3) then BatchNorm2d(8), as the stem of a small network.
std::shared_ptr<Sequential> conv_bn() {
  auto seq = std::make_shared<Sequential>();
  seq->add(std::make_shared<Conv2d>(3, 8, 3, 1, 1));
  seq->add(std::make_shared<BatchNorm2d>(8));
  return seq;
}

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> out;
  for (auto& [name, t] : named) out.push_back(name);
  return out;
}

TEST(Layers, SequentialOfConvAndBatchNormHasTorchNamesAndShapes) {
  auto seq = conv_bn();
  EXPECT_EQ(names_of(seq->named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_EQ(names_of(seq->named_buffers()),
            (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  const TensorMap state = seq->state_dict();
  const std::map<std::string, Shape> expected = {
      {"0.weight", {8, 3, 3, 3}}, {"0.bias", {8}},         {"1.weight", {8}},           {"1.bias", {8}},
      {"1.running_mean", {8}},    {"1.running_var", {8}}, {"1.num_batches_tracked", {}}};
  ASSERT_EQ(state.size(), expected.size());
  for (auto& [key, shape] : expected) {
    ASSERT_TRUE(state.count(key)) << key;
    EXPECT_EQ(state.at(key).shape(), shape) << key;
  }
  EXPECT_EQ(state.at("1.num_batches_tracked").dtype(), DType::Int64);
  EXPECT_EQ(seq->num_parameters(), 8 * 3 * 3 * 3 + 8 + 8 + 8);
  EXPECT_EQ(seq->size(), 2u);
  for (auto& [name, p] : seq->named_parameters()) EXPECT_TRUE(p.requires_grad()) << name;
}

TEST(Layers, ConvAndLinearWithoutBiasHaveOnlyAWeight) {
  Conv2d conv(4, 6, 1, 1, 0, 1, /*bias=*/false);
  EXPECT_EQ(names_of(conv.named_parameters()), std::vector<std::string>{"weight"});
  EXPECT_FALSE(conv.bias.defined());
  EXPECT_EQ(conv.weight.shape(), (Shape{6, 4, 1, 1}));
  Linear fc(10, 3, /*bias=*/false);
  EXPECT_EQ(names_of(fc.named_parameters()), std::vector<std::string>{"weight"});
  EXPECT_EQ(fc.weight.shape(), (Shape{3, 10}));
  Linear fc_bias(10, 3);
  EXPECT_EQ(fc_bias.bias.shape(), (Shape{3}));
}

TEST(Layers, ConvStoresItsOptions) {
  Conv2d conv(3, 4, 5, 2, 3, 2);
  EXPECT_EQ(conv.options.stride, 2);
  EXPECT_EQ(conv.options.padding, 3);
  EXPECT_EQ(conv.options.dilation, 2);
}

TEST(Layers, BatchNormStartsAtIdentityWithZeroCount) {
  BatchNorm1d bn(5, 1e-3f, 0.2f);
  EXPECT_EQ(bn.weight.to_vector<float>(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.bias.to_vector<float>(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_mean.to_vector<float>(), std::vector<float>(5, 0.0f));
  EXPECT_EQ(bn.running_var.to_vector<float>(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{0});
  EXPECT_FALSE(bn.running_mean.requires_grad());
  EXPECT_FLOAT_EQ(bn.eps, 1e-3f);
  EXPECT_FLOAT_EQ(bn.momentum, 0.2f);
}

// Sample mean and variance, in double.
std::pair<double, double> moments(const Tensor& t) {
  double sum = 0, sq = 0;
  for (float v : t.to_vector<float>()) sum += v, sq += static_cast<double>(v) * v;
  const double n = static_cast<double>(t.numel()), mean = sum / n;
  return {mean, sq / n - mean * mean};
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector<float>()) m = std::max(m, static_cast<double>(std::abs(v)));
  return m;
}

// Statistical tolerances at 6 standard errors for n samples of U(-b, b): the mean has standard
// error b/√(3n); the variance estimate b²·√(4/45)/√n (Var(X²) = b⁴/5 - b⁴/9 = 4b⁴/45).
TEST(Init, ConvAndLinearDefaultInitIsKaimingUniformWithBoundOneOverSqrtFanIn) {
  manual_seed(11);
  Conv2d conv(64, 128, 3);   // fan_in 576: bound 1/24, 73728 weights
  const double bound = 1.0 / 24.0, n = 73728;
  EXPECT_EQ(nn::init::fan_in(conv.weight), 576);
  EXPECT_EQ(nn::init::fan_out(conv.weight), 128 * 9);
  EXPECT_LE(max_abs(conv.weight), bound);
  EXPECT_GT(max_abs(conv.weight), 0.999 * bound);   // the whole range is used
  auto [mean, var] = moments(conv.weight);
  EXPECT_NEAR(mean, 0.0, 6 * bound / std::sqrt(3 * n));
  EXPECT_NEAR(var, bound * bound / 3, 6 * bound * bound * std::sqrt(4.0 / 45.0) / std::sqrt(n));
  EXPECT_LE(max_abs(conv.bias), bound);   // bias: U(-1/√fan_in, 1/√fan_in) too
  EXPECT_GT(max_abs(conv.bias), 0.5 * bound);

  Linear fc(400, 300);   // fan_in 400: bound 1/20, 120000 weights
  const double fc_bound = 1.0 / 20.0, fc_n = 120000;
  EXPECT_LE(max_abs(fc.weight), fc_bound);
  auto [fc_mean, fc_var] = moments(fc.weight);
  EXPECT_NEAR(fc_mean, 0.0, 6 * fc_bound / std::sqrt(3 * fc_n));
  EXPECT_NEAR(fc_var, fc_bound * fc_bound / 3, 6 * fc_bound * fc_bound * std::sqrt(4.0 / 45.0) / std::sqrt(fc_n));
  EXPECT_LE(max_abs(fc.bias), fc_bound);
}

// N(0, σ²) with σ² = 2/fan_out: the variance estimate has standard error σ²·√(2/n).
TEST(Init, KaimingNormalFanOutReluHasVarianceTwoOverFanOut) {
  Generator gen(3);
  Tensor w = Tensor::empty({128, 64, 3, 3});
  nn::init::kaiming_normal_fan_out_relu_(w, gen);
  const double var_expected = 2.0 / (128 * 9), n = 73728;
  auto [mean, var] = moments(w);
  EXPECT_NEAR(mean, 0.0, 6 * std::sqrt(var_expected / n));
  EXPECT_NEAR(var, var_expected, 6 * var_expected * std::sqrt(2.0 / n));
}

TEST(Init, UniformNormalConstantAndFans) {
  Generator gen(5);
  Tensor u = Tensor::empty({10000});
  nn::init::uniform_(u, 2.0f, 3.0f, gen);
  const auto uv = u.to_vector<float>();
  EXPECT_GE(*std::min_element(uv.begin(), uv.end()), 2.0f);
  EXPECT_LT(*std::max_element(uv.begin(), uv.end()), 3.0f);
  EXPECT_NEAR(moments(u).first, 2.5, 6 * std::sqrt(1.0 / 12 / 10000));

  Tensor g = Tensor::empty({20000});
  nn::init::normal_(g, -1.0f, 0.5f, gen);
  auto [gmean, gvar] = moments(g);
  EXPECT_NEAR(gmean, -1.0, 6 * 0.5 / std::sqrt(20000.0));
  EXPECT_NEAR(gvar, 0.25, 6 * 0.25 * std::sqrt(2.0 / 20000));

  Tensor c = Tensor::empty({2, 3});
  nn::init::constant_(c, 0.75f);
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(6, 0.75f));

  EXPECT_EQ(nn::init::fan_in(Tensor::empty({7, 5})), 5);
  EXPECT_EQ(nn::init::fan_out(Tensor::empty({7, 5})), 7);
  EXPECT_THROW(nn::init::fan_in(Tensor::empty({7})), Error);
  Tensor labels = Tensor::empty({3}, DType::Int64);
  EXPECT_THROW(nn::init::constant_(labels, 1.0f), Error);
}

TEST(Init, SameSeedGivesSameParametersAndAnotherSeedDoesNot) {
  manual_seed(42);
  Conv2d a(3, 4, 3);
  manual_seed(42);
  Conv2d b(3, 4, 3);
  manual_seed(43);
  Conv2d c(3, 4, 3);
  EXPECT_EQ(a.weight.to_vector<float>(), b.weight.to_vector<float>());
  EXPECT_EQ(a.bias.to_vector<float>(), b.bias.to_vector<float>());
  EXPECT_NE(a.weight.to_vector<float>(), c.weight.to_vector<float>());
}

TEST(StateDict, RoundTripsThroughSafetensors) {
  manual_seed(1);
  auto saved = conv_bn();
  auto& bn = static_cast<BatchNorm2d&>((*saved)[1]);
  nn::init::uniform_(bn.running_mean, -1.0f, 1.0f);
  nn::init::uniform_(bn.running_var, 0.5f, 2.0f);
  bn.num_batches_tracked.data<int64_t>()[0] = 7;
  const std::string path = ::testing::TempDir() + "xmkd_nn_state.safetensors";
  io::save_safetensors(path, saved->state_dict());

  manual_seed(2);
  auto loaded = conv_bn();
  EXPECT_NE(loaded->state_dict().at("0.weight").to_vector<float>(), saved->state_dict().at("0.weight").to_vector<float>());
  loaded->load_state_dict(io::load_safetensors(path), true, path);
  std::remove(path.c_str());
  const TensorMap a = saved->state_dict(), b = loaded->state_dict();
  for (auto& [key, t] : a) {
    if (t.dtype() == DType::Int64) EXPECT_EQ(b.at(key).to_vector<int64_t>(), t.to_vector<int64_t>()) << key;
    else EXPECT_EQ(b.at(key).to_vector<float>(), t.to_vector<float>()) << key;
  }
  // Loading copies into the module's own tensors: the layer's members see the values.
  auto& loaded_bn = static_cast<BatchNorm2d&>((*loaded)[1]);
  EXPECT_EQ(loaded_bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{7});
  EXPECT_TRUE(loaded_bn.weight.requires_grad());
}

std::string load_error(Module& m, const TensorMap& state, bool strict = true) {
  try {
    m.load_state_dict(state, strict, "checkpoint.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StateDict, LoadErrorsNameTheKeyAndBothShapes) {
  auto seq = conv_bn();
  const TensorMap good = seq->state_dict();

  TensorMap missing = good;
  missing.erase("1.running_var");
  std::string msg = load_error(*seq, missing);
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.running_var"), std::string::npos) << msg;
  EXPECT_NE(msg.find("checkpoint.safetensors"), std::string::npos) << msg;

  TensorMap unexpected = good;
  unexpected["2.weight"] = Tensor::zeros({4});
  msg = load_error(*seq, unexpected);
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2.weight"), std::string::npos) << msg;

  TensorMap wrong_shape = good;
  wrong_shape["0.weight"] = Tensor::zeros({8, 3, 5, 5});
  msg = load_error(*seq, wrong_shape);
  EXPECT_NE(msg.find("0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(8, 3, 5, 5)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(8, 3, 3, 3)"), std::string::npos) << msg;

  TensorMap wrong_dtype = good;
  wrong_dtype["1.num_batches_tracked"] = Tensor::zeros({});
  msg = load_error(*seq, wrong_dtype);
  EXPECT_NE(msg.find("1.num_batches_tracked"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;

  // Not strict: missing and unexpected keys are ignored, the rest is loaded.
  TensorMap partial;
  partial["0.bias"] = Tensor::full({8}, 0.5f);
  partial["head.weight"] = Tensor::zeros({2});
  EXPECT_EQ(load_error(*seq, partial, /*strict=*/false), "");
  EXPECT_EQ(seq->state_dict().at("0.bias").to_vector<float>(), std::vector<float>(8, 0.5f));
}

TEST(Modules, TrainAndEvalReachEveryLayer) {
  auto outer = std::make_shared<Sequential>();
  auto inner = outer->add(conv_bn());
  outer->add(std::make_shared<nn::ReLU>());
  EXPECT_TRUE((*inner)[1].is_training());
  outer->eval();
  EXPECT_FALSE(outer->is_training());
  EXPECT_FALSE(inner->is_training());
  EXPECT_FALSE((*inner)[0].is_training());
  EXPECT_FALSE((*inner)[1].is_training());
  EXPECT_FALSE((*outer)[1].is_training());
  outer->train();
  EXPECT_TRUE((*inner)[1].is_training());
  EXPECT_TRUE((*outer)[1].is_training());
  // Nested names carry both indices.
  EXPECT_EQ(names_of(outer->named_buffers()).front(), "0.1.running_mean");
}

TEST(Modules, ToCpuKeepsEveryTensorAndItsValues) {
  auto seq = conv_bn();
  const TensorMap before = seq->state_dict();
  const auto weights = before.at("0.weight").to_vector<float>();
  seq->to(Device::CPU);
  const TensorMap after = seq->state_dict();
  for (auto& [key, t] : before) {
    EXPECT_EQ(after.at(key).device(), Device::CPU) << key;
    EXPECT_EQ(after.at(key).raw_data(), t.raw_data()) << key;   // already there: not copied
  }
  EXPECT_EQ(after.at("0.weight").to_vector<float>(), weights);
}

TEST(Modules, MovingToTheGpuWithoutADeviceFailsLoudly) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  auto seq = conv_bn();
  EXPECT_THROW(seq->to(Device::CUDA), Error);
}

TEST(LayerErrors, BadConstructorArgumentsAndInputShapes) {
  EXPECT_THROW(Conv2d(0, 4, 3), Error);
  EXPECT_THROW(Conv2d(3, 4, 3, 0), Error);
  EXPECT_THROW(Conv2d(3, 4, 3, 1, -1), Error);
  EXPECT_THROW(BatchNorm2d(0), Error);
  EXPECT_THROW(Linear(5, 0), Error);

  // The shape check runs before any op: a wrong rank or channel count is named, and the batch
  // is not counted.
  BatchNorm2d bn(8);
  try {
    bn.forward(Tensor::zeros({2, 8}));
    ADD_FAILURE() << "BatchNorm2d accepted a 2-d input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm2d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2, 8)"), std::string::npos) << e.what();
  }
  BatchNorm1d bn1(4);
  try {
    bn1.forward(Tensor::zeros({2, 3}));
    ADD_FAILURE() << "BatchNorm1d(4) accepted 3 channels";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm1d(4)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{0});
}

}  // namespace
}  // namespace xmkd
