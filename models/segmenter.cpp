#include "models/segmenter.h"

#include "engine/nn/init.h"

namespace xmkd::models {

ConvBnRelu::ConvBnRelu(int64_t in_channels, int64_t out_channels, int kernel) {
  conv_ = register_module("conv", std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, 1, kernel / 2, 1, false));
  nn::init::kaiming_normal_fan_out_relu_(conv_->weight);
  bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out_channels));
}

Tensor ConvBnRelu::forward(const Tensor& x) { return relu(bn_->forward(conv_->forward(x))); }

GraphValue ConvBnRelu::describe(GraphBuilder& g, GraphValue x) const {
  return g.relu(g.batch_norm(g.conv2d(x, *conv_), *bn_));
}

SegDecoder::SegDecoder(int64_t bottleneck_channels, int64_t num_classes, std::vector<int64_t> stage_channels) {
  XMKD_CHECK(stage_channels.size() == 3, "SegDecoder: needs 3 stage widths (for C4, C3, C2), got ",
             stage_channels.size());
  XMKD_CHECK(num_classes > 0, "SegDecoder: num_classes must be positive, got ", num_classes);
  auto stages = std::make_shared<nn::Sequential>();   // a container only, for the names stages.0..2
  int64_t in = bottleneck_channels;
  for (size_t i = 0; i < 3; ++i) {
    stages_.push_back(stages->add(std::make_shared<ConvBnRelu>(in + kSkipChannels[i], stage_channels[i], 3)));
    in = stage_channels[i];
  }
  register_module("stages", stages);
  classifier_ = register_module("classifier", std::make_shared<nn::Conv2d>(in, num_classes, 1));
}

Tensor SegDecoder::forward(const Tensor& bottleneck, const std::vector<Tensor>& skips, int64_t out_h, int64_t out_w) {
  XMKD_CHECK(skips.size() == 3, "SegDecoder: needs 3 skips {C4, C3, C2}, got ", skips.size());
  Tensor y = bottleneck;
  for (size_t i = 0; i < 3; ++i) {
    const Tensor& skip = skips[i];
    check_ndim("SegDecoder", "skip", skip, 4);
    y = upsample_bilinear(y, static_cast<int>(skip.dim(2)), static_cast<int>(skip.dim(3)));
    y = stages_[i]->forward(concat_channels({y, skip}));
  }
  return upsample_bilinear(classifier_->forward(y), static_cast<int>(out_h), static_cast<int>(out_w));
}

GraphValue SegDecoder::describe(GraphBuilder& g, GraphValue bottleneck, const std::vector<GraphValue>& skips) const {
  XMKD_CHECK(skips.size() == 3, "SegDecoder: needs 3 skips {C4, C3, C2}, got ", skips.size());
  g.require_input_multiple(32);
  GraphValue y = bottleneck;
  for (size_t i = 0; i < 3; ++i) y = stages_[i]->describe(g, g.concat_channels({g.upsample_bilinear(y, 2), skips[i]}));
  return g.upsample_bilinear(g.conv2d(y, *classifier_), 4);
}

Segmenter::Segmenter(int64_t in_channels, int64_t num_classes, std::vector<int64_t> stage_channels) {
  encoder_ = register_module("encoder", std::make_shared<ResNet18>(in_channels));
  decoder_ = register_module("decoder", std::make_shared<SegDecoder>(ResNet18::kFeatureDim, num_classes, stage_channels));
}

Tensor Segmenter::forward(const Tensor& x) {
  ResNetFeatures f = encoder_->features(x);
  return decoder_->forward(f.c5, {f.c4, f.c3, f.c2}, x.dim(2), x.dim(3));
}

GraphValue Segmenter::describe(GraphBuilder& g, GraphValue x) const {
  ResNetGraphFeatures f = encoder_->describe_features(g, x);
  return decoder_->describe(g, f.c5, {f.c4, f.c3, f.c2});
}

}  // namespace xmkd::models
