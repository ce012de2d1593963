// `xmkd export --format onnx`: a deployable network as an ONNX model (opset 13) that runs
// without xmkd, e.g. in OpenCV's dnn module or ONNX Runtime.
//
// The graph's input "input" is (N, C, H, W) float32 in the units read_model_input produces
// (8-bit images in [0, 1], depth in metres, N, H and W free); the graph itself does what predict
// does before the network: the relief depth encoding (tools/train/onnx_export.cpp says how) and
// the per-channel normalisation (x - mean) / std. The normals encoding is not in the graph: its
// input is then the encoded (N, 3, H, W) normals (data::encode_depth). The output "logits" is
// (N, classes) or (N, classes, H, W). A segmentation graph needs H and W to be multiples of 32
// (metadata key onnx_meta::kSizeMultiple; models/graph.h says why).
//
// metadata_props carry every key of the safetensors export (tools/train/run_info.h, meta::) and
// the onnx_meta:: keys below. The ONNX writer needs libonnx-dev and protobuf at build time; a
// build without them reports "built without ONNX export" when asked for one.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/train/export.h"

namespace xmkd::train {

namespace onnx_meta {
// JSON array of what the graph does before the network, in order: "depth_encoding" (relief), "normalize".
constexpr const char* kInGraph = "xmkd.onnx.in_graph";
// The graph input in words: its shape, units, and whether it is the raw or the encoded depth.
constexpr const char* kInput = "xmkd.onnx.input";
// H and W of the input must be multiples of this (decimal; "1": any size).
constexpr const char* kSizeMultiple = "xmkd.onnx.size_multiple";
}  // namespace onnx_meta

constexpr int64_t kOnnxOpset = 13;   // OpenCV 4.6's dnn importer reads every op xmkd emits at 13

bool onnx_export_available();   // false in a build without libonnx-dev / protobuf

// RUN/export/<output>.onnx
std::string default_onnx_export_path(const std::string& run_dir, const std::string& output);

// Writes model.module (eval mode, its state as loaded) with model's preprocessing and metadata to
// `file` (directories created). Errors: a build without ONNX, a network that cannot be described
// (models::Deployable::describe), a depth encoding that needs an input of a different size.
void write_onnx(const DeployedModel& model, const std::string& file);

// What a written ONNX file holds, read back (for tests and for checking a file without Python).
struct OnnxSummary {
  int64_t opset = 0;
  std::vector<std::string> ops;                                   // op_type of each node, in order
  std::map<std::string, std::vector<int64_t>> initializers;       // name -> dims
  std::string input, output;                                      // the graph's input and output names
  std::vector<std::string> input_dims, output_dims;               // e.g. "N", "3", "H", "W"
  std::map<std::string, std::string> metadata;                    // metadata_props
};
OnnxSummary read_onnx_summary(const std::string& file);

}  // namespace xmkd::train
