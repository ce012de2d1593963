// A deployable network told as a graph, op by op, to a builder that writes it in some exchange
// format (tools/train/onnx_export.cpp writes ONNX). The models know no format: each network's
// describe() mirrors its eval-mode forward() with the builder's ops, and passes its parameters
// as the modules that own them, so the builder can name every weight by the deployable's
// state-dict name and read it from there.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/nn/layers.h"

namespace xmkd::models {

// A value of the graph being built: a handle the builder hands out and takes back.
struct GraphValue {
  int64_t id = -1;
};

class GraphBuilder {
 public:
  virtual ~GraphBuilder() = default;
  virtual GraphValue conv2d(GraphValue x, const nn::Conv2d& conv) = 0;
  // Eval mode: the running statistics, (x - mean) / sqrt(var + eps) * weight + bias; x (N,C,H,W) or (N,C).
  virtual GraphValue batch_norm(GraphValue x, const nn::BatchNorm& bn) = 0;
  virtual GraphValue linear(GraphValue x, const nn::Linear& fc) = 0;   // (N, in) -> (N, out)
  virtual GraphValue relu(GraphValue x) = 0;
  virtual GraphValue add(GraphValue a, GraphValue b) = 0;              // same shapes
  virtual GraphValue max_pool2d(GraphValue x, int kernel, int stride, int padding) = 0;
  virtual GraphValue global_avg_pool(GraphValue x) = 0;                // (N,C,H,W) -> (N,C)
  virtual GraphValue concat_channels(const std::vector<GraphValue>& xs) = 0;
  virtual GraphValue slice_channels(GraphValue x, int64_t begin, int64_t end) = 0;   // channels [begin, end)
  // Bilinear (align_corners=false) resize by an integer factor: (N,C,H,W) -> (N,C,f·H,f·W).
  // forward() resizes to a skip's exact size instead; the two agree when the input's sides are
  // multiples of the network's stride, which the network then declares with require_input_multiple.
  virtual GraphValue upsample_bilinear(GraphValue x, int64_t factor) = 0;
  // The graph is exact only for inputs whose height and width are multiples of `multiple`.
  virtual void require_input_multiple(int64_t multiple) = 0;
};

}  // namespace xmkd::models
