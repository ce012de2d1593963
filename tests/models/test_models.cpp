// The models' structure: feature map shapes, output sizes, torchvision parameter names and
// counts, and the errors a wrong input gives.
#include <gtest/gtest.h>

#include <set>

#include "engine/autograd.h"
#include "models/resnet18.h"
#include "models/segmenter.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

std::set<std::string> names(const NamedTensors& tensors) {
  std::set<std::string> out;
  for (const auto& [name, t] : tensors) out.insert(name);
  return out;
}

TEST(ResNet18, FeatureMapsHaveStrides4To32) {
  Generator gen(1);
  models::ResNet18 model(3, 10);
  model.eval();
  NoGradGuard no_grad;
  models::ResNetFeatures f = model.features(testing::random_normal({2, 3, 64, 64}, gen));
  EXPECT_EQ(f.c2.shape(), (Shape{2, 64, 16, 16}));
  EXPECT_EQ(f.c3.shape(), (Shape{2, 128, 8, 8}));
  EXPECT_EQ(f.c4.shape(), (Shape{2, 256, 4, 4}));
  EXPECT_EQ(f.c5.shape(), (Shape{2, 512, 2, 2}));
  EXPECT_EQ(f.pooled.shape(), (Shape{2, 512}));
  EXPECT_EQ(model.forward(testing::random_normal({2, 3, 64, 64}, gen)).shape(), (Shape{2, 10}));
}

TEST(ResNet18, OddInputSizesRoundUpLikeTorchvision) {
  // 50x70 -> conv1 25x35 -> max-pool 13x18 -> 13x18, 7x9, 4x5, 2x3 (each stride 2 rounds up).
  Generator gen(2);
  models::ResNet18 model(1, 0);
  model.eval();
  NoGradGuard no_grad;
  models::ResNetFeatures f = model.features(testing::random_normal({1, 1, 50, 70}, gen));
  EXPECT_EQ(f.c2.shape(), (Shape{1, 64, 13, 18}));
  EXPECT_EQ(f.c3.shape(), (Shape{1, 128, 7, 9}));
  EXPECT_EQ(f.c4.shape(), (Shape{1, 256, 4, 5}));
  EXPECT_EQ(f.c5.shape(), (Shape{1, 512, 2, 3}));
  EXPECT_EQ(f.pooled.shape(), (Shape{1, 512}));
}

TEST(ResNet18, HasTorchvisionNamesAndParameterCount) {
  models::ResNet18 model(3, 1000);
  EXPECT_EQ(model.num_parameters(), 11689512);   // torchvision resnet18()
  EXPECT_EQ(model.named_parameters().size(), 62u);
  EXPECT_EQ(model.named_buffers().size(), 60u);   // 20 batch norms x (mean, var, count)
  TensorMap state = model.state_dict();
  for (const char* name : {"conv1.weight", "bn1.running_mean", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
                           "layer2.0.downsample.1.running_var", "layer4.1.bn2.num_batches_tracked", "fc.weight", "fc.bias"})
    EXPECT_TRUE(state.count(name)) << name;
  EXPECT_EQ(state["conv1.weight"].shape(), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(state["layer3.0.downsample.0.weight"].shape(), (Shape{256, 128, 1, 1}));
  EXPECT_EQ(state["fc.weight"].shape(), (Shape{1000, 512}));
  EXPECT_EQ(state["bn1.num_batches_tracked"].dtype(), DType::Int64);
  EXPECT_FALSE(state.count("layer1.0.downsample.0.weight"));   // same shape: identity shortcut
}

TEST(ResNet18, InputChannelsOnlyChangeConv1) {
  models::ResNet18 one(1, 10), three(3, 10);
  EXPECT_EQ(one.state_dict()["conv1.weight"].shape(), (Shape{64, 1, 7, 7}));
  EXPECT_EQ(three.num_parameters() - one.num_parameters(), 64 * 2 * 7 * 7);
  EXPECT_EQ(names(one.named_parameters()), names(three.named_parameters()));
}

TEST(ResNet18, EncoderWithoutClassifierHasNoFc) {
  models::ResNet18 encoder(3, 0);
  EXPECT_EQ(encoder.num_parameters(), 11689512 - (1000 * 512 + 1000));
  EXPECT_FALSE(names(encoder.named_parameters()).count("fc.weight"));
  Generator gen(3);
  testing::expect_error_naming([&] { encoder.forward(testing::random_normal({1, 3, 32, 32}, gen)); }, "ResNet18",
                               "num_classes");
}

TEST(ResNet18, WrongInputIsAClearError) {
  Generator gen(4);
  models::ResNet18 model(3, 10);
  testing::expect_error_naming([&] { model.forward(testing::random_normal({2, 1, 64, 64}, gen)); }, "ResNet18",
                               "input has 1 channels, the model expects 3");
  testing::expect_error_naming([&] { model.forward(testing::random_normal({3, 64, 64}, gen)); }, "ResNet18", "input");
  testing::expect_error_naming([] { models::ResNet18(0, 10); }, "ResNet18", "in_channels");
}

TEST(Segmenter, OutputHasTheInputSize) {
  Generator gen(5);
  models::Segmenter model(3, 5);
  model.eval();
  NoGradGuard no_grad;
  EXPECT_EQ(model.forward(testing::random_normal({2, 3, 64, 64}, gen)).shape(), (Shape{2, 5, 64, 64}));
  EXPECT_EQ(model.forward(testing::random_normal({1, 3, 50, 70}, gen)).shape(), (Shape{1, 5, 50, 70}));
  EXPECT_EQ(model.forward(testing::random_normal({1, 3, 33, 47}, gen)).shape(), (Shape{1, 5, 33, 47}));
}

TEST(Segmenter, HasEncoderAndDecoderNames) {
  models::Segmenter model(3, 5);
  EXPECT_EQ(model.num_parameters(), 13500165);   // the same module in PyTorch (tools/torch_fixtures/models.py)
  EXPECT_EQ(model.named_parameters().size(), 71u);
  EXPECT_EQ(model.named_buffers().size(), 69u);
  TensorMap state = model.state_dict();
  EXPECT_EQ(state["encoder.conv1.weight"].shape(), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(state["decoder.stages.0.conv.weight"].shape(), (Shape{256, 512 + 256, 3, 3}));
  EXPECT_EQ(state["decoder.stages.1.conv.weight"].shape(), (Shape{128, 256 + 128, 3, 3}));
  EXPECT_EQ(state["decoder.stages.2.conv.weight"].shape(), (Shape{64, 128 + 64, 3, 3}));
  EXPECT_EQ(state["decoder.stages.2.bn.running_var"].shape(), (Shape{64}));
  EXPECT_EQ(state["decoder.classifier.weight"].shape(), (Shape{5, 64, 1, 1}));
  EXPECT_EQ(state["decoder.classifier.bias"].shape(), (Shape{5}));
  EXPECT_FALSE(state.count("encoder.fc.weight"));
  EXPECT_FALSE(state.count("decoder.stages.0.conv.bias"));
}

TEST(Segmenter, WrongInputIsAClearError) {
  Generator gen(6);
  models::Segmenter model(3, 5);
  testing::expect_error_naming([&] { model.forward(testing::random_normal({1, 4, 32, 32}, gen)); }, "ResNet18",
                               "input has 4 channels, the model expects 3");
  testing::expect_error_naming([] { models::Segmenter(3, 0); }, "SegDecoder", "num_classes");
  testing::expect_error_naming([] { models::Segmenter(3, 5, {256, 128}); }, "SegDecoder", "3 stage widths");
}

}  // namespace
}  // namespace xmkd
