// ResNet-18 against PyTorch (fixtures from tools/torch_fixtures/models.py): one training step
// (logits, loss, every parameter gradient, the updated batch-norm buffers) and three Adam steps
// (the logits and loss before each, every parameter's displacement), by docs/parity.md's rule.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "models/resnet18.h"
#include "tests/models/parity_fixture.h"
#include "tests/support/deterministic.h"

namespace xmkd {
namespace {

using testing::ParityFixture;

class ResNetParity : public ::testing::TestWithParam<int> {
 protected:
  std::string fixture_name() const { return "model_resnet18_c" + std::to_string(GetParam()); }
};

// The deterministic rule gives the values PyTorch used, bit for bit.
TEST_P(ResNetParity, DeterministicInitMatchesTheGenerator) {
  ParityFixture fixture(fixture_name());
  models::ResNet18 model(GetParam(), 10);
  testing::deterministic_init(model);
  TensorMap state = model.state_dict();
  int compared = 0;
  for (const auto& [key, expected] : fixture.tensors()) {
    if (key.rfind("init.", 0) != 0) continue;
    const std::string name = key.substr(5);
    ASSERT_TRUE(state.count(name)) << name;
    EXPECT_EQ(state[name].to_vector<float>(), expected.to_vector<float>()) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 6);
}

TEST_P(ResNetParity, OneTrainingStepMatchesPyTorch) {
  ParityFixture fixture(fixture_name());
  models::ResNet18 model(GetParam(), 10);
  testing::deterministic_init(model);
  model.train();
  Tensor x = fixture.tensor("input"), labels = fixture.tensor("labels");
  ASSERT_TRUE(x.defined() && labels.defined());

  Tensor logits = model.forward(x);
  Tensor loss = cross_entropy(logits, labels);
  loss.backward();

  fixture.expect_matches("logits", logits);
  fixture.expect_matches("loss", loss);
  for (const auto& [name, p] : model.named_parameters()) fixture.expect_matches("grad." + name, p.grad());
  for (const auto& [name, b] : model.named_buffers()) fixture.expect_matches("state." + name, b);
  EXPECT_EQ(model.named_parameters().size(), 62u);
  EXPECT_TRUE(fixture.unchecked("grad.").empty()) << "fixture gradients the model lacks: " << fixture.unchecked("grad.")[0];
  EXPECT_TRUE(fixture.unchecked("state.").empty()) << "fixture buffers the model lacks: " << fixture.unchecked("state.")[0];
}

TEST_P(ResNetParity, ThreeAdamStepsMatchPyTorch) {
  ParityFixture inputs(fixture_name());
  ParityFixture fixture(fixture_name() + "_adam");
  models::ResNet18 model(GetParam(), 10);
  testing::deterministic_init(model);
  model.train();
  Tensor x = inputs.tensor("input"), labels = inputs.tensor("labels");
  ASSERT_TRUE(x.defined() && labels.defined());

  std::vector<std::vector<double>> before;
  for (const auto& [name, p] : model.named_parameters()) before.push_back(testing::to_double(p));
  optim::Adam adam(model.named_parameters(), optim::AdamOptions{});   // lr 1e-3, betas (0.9, 0.999), eps 1e-8
  std::vector<double> losses, logits_per_step;
  Shape logits_shape;
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    Tensor logits = model.forward(x);
    Tensor loss = cross_entropy(logits, labels);
    loss.backward();
    adam.step();
    losses.push_back(loss.item());
    for (double v : testing::to_double(logits)) logits_per_step.push_back(v);
    logits_shape = logits.shape();
  }
  Shape stacked{3};
  stacked.insert(stacked.end(), logits_shape.begin(), logits_shape.end());
  fixture.expect_matches("adam.logits", logits_per_step, stacked);
  fixture.expect_adam_losses(losses, labels, -100);

  size_t i = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    std::vector<double> delta = testing::to_double(p);
    for (size_t k = 0; k < delta.size(); ++k) delta[k] -= before[i][k];
    fixture.expect_matches("adam.delta." + name, delta, p.shape());
    ++i;
  }
  EXPECT_TRUE(fixture.unchecked("adam.").empty()) << "unchecked: " << fixture.unchecked("adam.")[0];
}

// The rule has teeth: errors a little above PyTorch float32's are flagged, and the norm and the
// projection see errors in the entries a summarised tensor's sample leaves out.
TEST(ResNetParityRule, FlagsErrorsAbovePyTorchFloat32s) {
  ParityFixture fixture("model_resnet18_c3");
  models::ResNet18 model(3, 10);
  testing::deterministic_init(model);
  model.train();
  Tensor logits = model.forward(fixture.tensor("input"));
  cross_entropy(logits, fixture.tensor("labels")).backward();

  std::vector<double> z = testing::to_double(logits);
  for (double& v : z) v *= 1.0 + 1e-4;
  EXPECT_NONFATAL_FAILURE(fixture.expect_matches("logits", z, logits.shape()), "logits");

  // layer4.0.conv1.weight has 1179648 entries: 4096 are sampled. Scale one output channel's
  // other entries by 1.01: the sample is untouched, the projection must notice.
  Tensor w = model.state_dict()["layer4.0.conv1.weight"];
  std::vector<double> g = testing::to_double(w.grad());
  const int64_t n = static_cast<int64_t>(g.size()), per_channel = n / w.dim(0);
  std::vector<bool> sampled(g.size(), false);
  for (int64_t k = 0; k < 4096; ++k) sampled[static_cast<size_t>(k * n / 4096)] = true;
  for (int64_t i = 7 * per_channel; i < 8 * per_channel; ++i)
    if (!sampled[static_cast<size_t>(i)]) g[static_cast<size_t>(i)] *= 1.01;
  EXPECT_NONFATAL_FAILURE(fixture.expect_matches("grad.layer4.0.conv1.weight", g, w.shape()),
                          "grad.layer4.0.conv1.weight.proj");
}

INSTANTIATE_TEST_SUITE_P(InputChannels, ResNetParity, ::testing::Values(1, 3));

}  // namespace
}  // namespace xmkd
