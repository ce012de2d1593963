#include "models/resnet18.h"

#include "engine/nn/init.h"

namespace xmkd::models {
namespace {

// torchvision's ResNet re-initialises every conv with kaiming_normal(fan_out, relu); batch
// norms keep weight 1, bias 0.
std::shared_ptr<nn::Conv2d> resnet_conv(int64_t in, int64_t out, int kernel, int stride, int padding) {
  auto conv = std::make_shared<nn::Conv2d>(in, out, kernel, stride, padding, 1, /*bias=*/false);
  nn::init::kaiming_normal_fan_out_relu_(conv->weight);
  return conv;
}

std::shared_ptr<nn::Sequential> make_layer(int64_t in, int64_t out, int stride) {
  auto layer = std::make_shared<nn::Sequential>();
  layer->add(std::make_shared<BasicBlock>(in, out, stride));
  layer->add(std::make_shared<BasicBlock>(out, out, 1));
  return layer;
}

}  // namespace

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int stride) {
  conv1_ = register_module("conv1", resnet_conv(in_channels, out_channels, 3, stride, 1));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2_ = register_module("conv2", resnet_conv(out_channels, out_channels, 3, 1, 1));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample_ = std::make_shared<nn::Sequential>();
    downsample_->add(resnet_conv(in_channels, out_channels, 1, stride, 0));
    downsample_->add(std::make_shared<nn::BatchNorm2d>(out_channels));
    register_module("downsample", downsample_);
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  return add_relu(out, downsample_ ? downsample_->forward(x) : x);
}

GraphValue BasicBlock::describe(GraphBuilder& g, GraphValue x) const {
  GraphValue out = g.relu(g.batch_norm(g.conv2d(x, *conv1_), *bn1_));
  out = g.batch_norm(g.conv2d(out, *conv2_), *bn2_);
  GraphValue shortcut = x;
  if (downsample_) {
    shortcut = g.conv2d(x, static_cast<const nn::Conv2d&>((*downsample_)[0]));
    shortcut = g.batch_norm(shortcut, static_cast<const nn::BatchNorm&>((*downsample_)[1]));
  }
  return g.relu(g.add(out, shortcut));
}

GraphValue describe_resnet_layer(GraphBuilder& g, nn::Sequential& layer, GraphValue x) {
  for (size_t i = 0; i < layer.size(); ++i) {
    const auto* block = dynamic_cast<const BasicBlock*>(&layer[i]);
    XMKD_CHECK(block, "describe_resnet_layer: entry ", i, " of the layer is not a BasicBlock");
    x = block->describe(g, x);
  }
  return x;
}

ResNet18::ResNet18(int64_t in_channels, int64_t num_classes) : in_channels_(in_channels), num_classes_(num_classes) {
  XMKD_CHECK(in_channels > 0, "ResNet18: in_channels must be positive, got ", in_channels);
  XMKD_CHECK(num_classes >= 0, "ResNet18: num_classes must be >= 0, got ", num_classes);
  conv1_ = register_module("conv1", resnet_conv(in_channels, 64, 7, 2, 3));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
  layer1_ = register_module("layer1", make_layer(64, 64, 1));
  layer2_ = register_module("layer2", make_layer(64, 128, 2));
  layer3_ = register_module("layer3", make_layer(128, 256, 2));
  layer4_ = register_module("layer4", make_layer(256, 512, 2));
  if (num_classes > 0) fc_ = register_module("fc", std::make_shared<nn::Linear>(kFeatureDim, num_classes));
}

ResNetFeatures ResNet18::features(const Tensor& x) {
  check_ndim("ResNet18", "input", x, 4);
  XMKD_CHECK(x.dim(1) == in_channels_, "ResNet18: input has ", x.dim(1), " channels, the model expects ",
             in_channels_, " (input ", shape_str(x.shape()), ")");
  ResNetFeatures f;
  Tensor stem = max_pool2d(relu(bn1_->forward(conv1_->forward(x))), 3, 2, 1);
  f.c2 = layer1_->forward(stem);
  f.c3 = layer2_->forward(f.c2);
  f.c4 = layer3_->forward(f.c3);
  f.c5 = layer4_->forward(f.c4);
  f.pooled = global_avg_pool(f.c5);
  return f;
}

ResNetGraphFeatures ResNet18::describe_features(GraphBuilder& g, GraphValue x) const {
  ResNetGraphFeatures f;
  GraphValue stem = g.max_pool2d(g.relu(g.batch_norm(g.conv2d(x, *conv1_), *bn1_)), 3, 2, 1);
  f.c2 = describe_resnet_layer(g, *layer1_, stem);
  f.c3 = describe_resnet_layer(g, *layer2_, f.c2);
  f.c4 = describe_resnet_layer(g, *layer3_, f.c3);
  f.c5 = describe_resnet_layer(g, *layer4_, f.c4);
  f.pooled = g.global_avg_pool(f.c5);
  return f;
}

GraphValue ResNet18::describe(GraphBuilder& g, GraphValue x) const {
  XMKD_CHECK(fc_, "ResNet18::describe needs a classifier (num_classes > 0); use describe_features for the encoder");
  return g.linear(describe_features(g, x).pooled, *fc_);
}

Tensor ResNet18::forward(const Tensor& x) {
  XMKD_CHECK(fc_, "ResNet18::forward needs a classifier (num_classes > 0); use features() for the encoder");
  return fc_->forward(features(x).pooled);
}

}  // namespace xmkd::models
