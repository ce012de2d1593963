// The deterministic values and initialisation rule must equal the fixture generator's
// (tools/torch_fixtures/_common.py) bit for bit: the expected values below were printed by it.
#include <gtest/gtest.h>

#include "models/resnet18.h"
#include "tests/support/deterministic.h"

namespace xmkd::testing {
namespace {

TEST(Deterministic, Fnv1aMatchesTheReferenceVectors) {
  EXPECT_EQ(fnv1a32(""), 0x811C9DC5u);
  EXPECT_EQ(fnv1a32("a"), 0xE40C292Cu);
  EXPECT_EQ(fnv1a32("foobar"), 0xBF9CF968u);
  EXPECT_EQ(fnv1a32("conv1.weight"), 3184444564u);
}

TEST(Deterministic, ValuesMatchThePythonGenerator) {
  EXPECT_EQ(deterministic_values(3184444564u, 5),
            (std::vector<float>{0.5064752101898193f, -0.7122007608413696f, 0.16956675052642822f, -0.6689213514328003f,
                                -0.538703203201294f}));
  EXPECT_EQ(deterministic_values(0, 3), (std::vector<float>{0.7666215896606445f, 0.13312304019927979f, 0.1823793649673462f}));
  EXPECT_EQ(deterministic_values(0xFFFFFFFFu, 3),
            (std::vector<float>{-0.7373121976852417f, -0.29133927822113037f, 0.9408833980560303f}));
  // A projection key and indices past 2^20, as the parity fixtures use them.
  const uint32_t key = fnv1a32("grad.layer4.1.conv2.weight") ^ 0x5BD1E995u;
  EXPECT_EQ(key, 2209951564u);
  std::vector<float> v = deterministic_values(key, 2359296);
  EXPECT_EQ(v[0], -0.8805885314941406f);
  EXPECT_EQ(v[1], -0.4469888210296631f);
  EXPECT_EQ(v[1000000], -0.5500895977020264f);
  EXPECT_EQ(v[2359295], -0.8386727571487427f);
}

TEST(Deterministic, FillWritesTheValuesIntoATensor) {
  Tensor t = Tensor::empty({2, 2});
  deterministic_fill(t, 0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0.7666215896606445f, 0.13312304019927979f, 0.1823793649673462f,
                                                      deterministic_values(0, 4)[3]}));
  Tensor ints = Tensor::empty({2}, DType::Int64);
  EXPECT_THROW(deterministic_fill(ints, 0), Error);
}

TEST(Deterministic, InitRuleMatchesThePythonGenerator) {
  auto first = [](const std::string& name, const Shape& shape, size_t k) {
    return deterministic_state_value(name, shape, DType::Float32).to_vector<float>().at(k);
  };
  EXPECT_EQ(first("conv1.weight", {64, 3, 7, 7}, 0), 0.10232344269752502f);   // u sqrt(6 / 147)
  EXPECT_EQ(first("conv1.weight", {64, 3, 7, 7}, 1), -0.1438862830400467f);
  EXPECT_EQ(first("conv1.weight", {64, 3, 7, 7}, 2), 0.03425765782594681f);
  EXPECT_EQ(first("fc.weight", {10, 512}, 0), -0.06884569674730301f);
  EXPECT_EQ(first("fc.weight", {10, 512}, 1), 0.05598704516887665f);
  EXPECT_EQ(first("bn1.weight", {64}, 0), 0.992419958114624f);                 // 1 + 0.1 u
  EXPECT_EQ(first("bn1.weight", {64}, 1), 1.0279293060302734f);
  EXPECT_EQ(first("fc.bias", {10}, 0), 0.0025561093352735043f);               // 0.1 u
  EXPECT_EQ(first("fc.bias", {10}, 1), -0.015185058116912842f);
  EXPECT_EQ(first("bn1.running_mean", {64}, 0), -0.07951106131076813f);       // 0.1 u
  EXPECT_EQ(first("bn1.running_var", {64}, 0), 1.0058417320251465f);          // 1 + 0.25 (u + 1)
  EXPECT_EQ(first("bn1.running_var", {64}, 1), 1.0463815927505493f);
  EXPECT_EQ(deterministic_state_value("bn1.num_batches_tracked", {}, DType::Int64).to_vector<int64_t>(),
            (std::vector<int64_t>{0}));
  EXPECT_THROW(deterministic_state_value("gamma", {4}, DType::Float32), Error);
}

TEST(Deterministic, InitCoversEveryStateDictEntry) {
  models::ResNet18 model(3, 10);
  deterministic_init(model);
  TensorMap state = model.state_dict();
  EXPECT_EQ(state["fc.bias"].to_vector<float>()[1], -0.015185058116912842f);
  EXPECT_EQ(state["bn1.running_var"].to_vector<float>()[0], 1.0058417320251465f);
  for (const auto& [name, t] : state) {
    Tensor expected = deterministic_state_value(name, t.shape(), t.dtype());
    if (t.dtype() == DType::Float32) EXPECT_EQ(t.to_vector<float>(), expected.to_vector<float>()) << name;
    else EXPECT_EQ(t.to_vector<int64_t>(), expected.to_vector<int64_t>()) << name;
  }
}

}  // namespace
}  // namespace xmkd::testing
