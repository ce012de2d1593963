// Layer forward passes against the ops they wrap (needs engine/ops: conv2d, batch_norm, linear, relu).
#include <gtest/gtest.h>

#include "engine/nn/layers.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

TEST(LayersForward, BatchNormCountsTrainingBatchesOnlyAndUpdatesRunningStatsOnlyInTraining) {
  nn::BatchNorm2d bn(3);
  Generator gen(1);
  Tensor x = testing::random_normal({4, 3, 5, 5}, gen);
  bn.forward(x);
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{2});
  const auto trained_mean = bn.running_mean.to_vector<float>();
  EXPECT_NE(trained_mean, std::vector<float>(3, 0.0f));
  bn.eval();
  Tensor y = bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.to_vector<int64_t>(), std::vector<int64_t>{2});
  EXPECT_EQ(bn.running_mean.to_vector<float>(), trained_mean);
  testing::expect_close(y, batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, false), 0, 0,
                        "eval BatchNorm2d = batch_norm(training=false)");
}

TEST(LayersForward, ConvLinearAndSequentialCallTheirOps) {
  Generator gen(2);
  auto seq = std::make_shared<nn::Sequential>();
  auto conv = seq->add(std::make_shared<nn::Conv2d>(3, 4, 3, 2, 1));
  seq->add(std::make_shared<nn::ReLU>());
  Tensor x = testing::random_normal({2, 3, 8, 8}, gen);
  Tensor expected = relu(conv2d(x, conv->weight, conv->bias, conv->options));
  testing::expect_close(seq->forward(x), expected, 0, 0, "Sequential(Conv2d, ReLU)");

  nn::Linear fc(6, 2);
  Tensor v = testing::random_normal({5, 6}, gen);
  testing::expect_close(fc.forward(v), linear(v, fc.weight, fc.bias), 0, 0, "Linear");
}

}  // namespace
}  // namespace xmkd
