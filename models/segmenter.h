// The encoder/decoder segmenter: a ResNet-18 encoder (C2..C5) and a decoder that climbs back
// from the bottleneck with, per stage, a bilinear ×2 upsample (to the skip's exact size), a
// concatenation with the encoder skip (C4, then C3, then C2) and a 3x3 conv-BN-ReLU; a final
// 1x1 conv gives class logits at stride 4, bilinearly upsampled to the input size.
//
//   bottleneck (N, B, H/32) ─up→ ‖C4 → conv 256 → up ‖C3 → conv 128 → up ‖C2 → conv 64 → 1x1 → up
//
// The decoder takes its bottleneck as an argument so that methods can feed it something other
// than C5 (CroDiNo-KD decodes [z_inv ‖ z_spec]).
#pragma once
#include <memory>
#include <vector>

#include "models/resnet18.h"

namespace xmkd::models {

class ConvBnRelu : public Module {
 public:
  ConvBnRelu(int64_t in_channels, int64_t out_channels, int kernel);
  Tensor forward(const Tensor& x) override;
  GraphValue describe(GraphBuilder& g, GraphValue x) const;

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
};

class SegDecoder : public Module {
 public:
  static constexpr int64_t kSkipChannels[3] = {256, 128, 64};   // C4, C3, C2 of ResNet-18

  SegDecoder(int64_t bottleneck_channels, int64_t num_classes,
             std::vector<int64_t> stage_channels = {256, 128, 64});
  // skips = {C4, C3, C2}; returns logits (N, num_classes, out_h, out_w).
  Tensor forward(const Tensor& bottleneck, const std::vector<Tensor>& skips, int64_t out_h, int64_t out_w);
  // forward() as a graph whose output is at 4x the resolution of C2 (the input size). The decoder's
  // resizes to a skip's size are x2 and the last one x4 when the input sides are multiples of 32
  // (ResNet-18's total stride), which the graph therefore requires.
  GraphValue describe(GraphBuilder& g, GraphValue bottleneck, const std::vector<GraphValue>& skips) const;

 private:
  std::vector<std::shared_ptr<ConvBnRelu>> stages_;
  std::shared_ptr<nn::Conv2d> classifier_;
};

class Segmenter : public Module {
 public:
  Segmenter(int64_t in_channels, int64_t num_classes, std::vector<int64_t> stage_channels = {256, 128, 64});
  Tensor forward(const Tensor& x) override;   // (N, C_in, H, W) -> (N, num_classes, H, W)
  GraphValue describe(GraphBuilder& g, GraphValue x) const;

  ResNet18& encoder() { return *encoder_; }
  SegDecoder& decoder() { return *decoder_; }

 private:
  std::shared_ptr<ResNet18> encoder_;
  std::shared_ptr<SegDecoder> decoder_;
};

}  // namespace xmkd::models
