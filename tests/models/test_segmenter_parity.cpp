// The segmenter against PyTorch (tools/torch_fixtures/models.py): one training step with per-pixel
// cross-entropy (ignore index 255): logits, loss, every parameter gradient and the updated
// batch-norm buffers, by docs/parity.md's rule.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "models/segmenter.h"
#include "tests/models/parity_fixture.h"
#include "tests/support/deterministic.h"

namespace xmkd {
namespace {

using testing::ParityFixture;

TEST(SegmenterParity, DeterministicInitMatchesTheGenerator) {
  ParityFixture fixture("model_segmenter");
  models::Segmenter model(3, 5);
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
  EXPECT_EQ(compared, 3);
}

TEST(SegmenterParity, OneTrainingStepMatchesPyTorch) {
  ParityFixture fixture("model_segmenter");
  models::Segmenter model(3, 5);
  testing::deterministic_init(model);
  model.train();
  Tensor x = fixture.tensor("input"), labels = fixture.tensor("labels");
  ASSERT_TRUE(x.defined() && labels.defined());

  Tensor logits = model.forward(x);
  CrossEntropyOptions options;
  options.ignore_index = 255;
  Tensor loss = cross_entropy(logits, labels, options);
  loss.backward();

  fixture.expect_matches("logits", logits);
  fixture.expect_matches("loss", loss);
  for (const auto& [name, p] : model.named_parameters()) fixture.expect_matches("grad." + name, p.grad());
  for (const auto& [name, b] : model.named_buffers()) fixture.expect_matches("state." + name, b);
  EXPECT_TRUE(fixture.unchecked("grad.").empty()) << "fixture gradients the model lacks: " << fixture.unchecked("grad.")[0];
  EXPECT_TRUE(fixture.unchecked("state.").empty()) << "fixture buffers the model lacks: " << fixture.unchecked("state.")[0];
}

}  // namespace
}  // namespace xmkd
