// ResNet-18 (He et al.) with torchvision's module names, for any number of input channels:
// conv1 7x7/2 → bn1 → relu → maxpool 3x3/2 → layer1..layer4 (two BasicBlocks each, widths
// 64/128/256/512, stride 2 from layer2 on) → global average pool → optional fc.
// A torchvision resnet18 state dict (converted to safetensors) loads without renaming.
#pragma once
#include <memory>

#include "engine/nn/layers.h"
#include "models/graph.h"

namespace xmkd::models {

// conv3x3-bn-relu-conv3x3-bn, plus the identity (or a 1x1-conv-bn "downsample" when the shape
// changes), then relu: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int stride);
  Tensor forward(const Tensor& x) override;
  GraphValue describe(GraphBuilder& g, GraphValue x) const;   // forward() as a graph

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Sequential> downsample_;   // null for the identity shortcut
};

// One of layer1..layer4 (a Sequential of BasicBlocks) as a graph.
GraphValue describe_resnet_layer(GraphBuilder& g, nn::Sequential& layer, GraphValue x);

// The multi-scale outputs the methods build on. Strides relative to the input: 4, 8, 16, 32.
struct ResNetFeatures {
  Tensor c2;       // layer1: (N, 64,  H/4,  W/4)
  Tensor c3;       // layer2: (N, 128, H/8,  W/8)
  Tensor c4;       // layer3: (N, 256, H/16, W/16)
  Tensor c5;       // layer4: (N, 512, H/32, W/32)
  Tensor pooled;   // global average of c5: (N, 512)
};
// The same features as values of a described graph (models/graph.h).
struct ResNetGraphFeatures {
  GraphValue c2, c3, c4, c5, pooled;
};

class ResNet18 : public Module {
 public:
  static constexpr int64_t kFeatureDim = 512;

  // num_classes = 0 builds the encoder alone (no fc), as used inside the methods.
  ResNet18(int64_t in_channels, int64_t num_classes = 0);

  ResNetFeatures features(const Tensor& x);
  Tensor forward(const Tensor& x) override;   // logits (N, num_classes); needs num_classes > 0
  // features() and forward() as graphs.
  ResNetGraphFeatures describe_features(GraphBuilder& g, GraphValue x) const;
  GraphValue describe(GraphBuilder& g, GraphValue x) const;

  int64_t in_channels() const { return in_channels_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t in_channels_, num_classes_;
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::shared_ptr<nn::Sequential> layer1_, layer2_, layer3_, layer4_;
  std::shared_ptr<nn::Linear> fc_;
};

}  // namespace xmkd::models
