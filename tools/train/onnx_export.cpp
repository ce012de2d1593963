// The ONNX writer of tools/train/onnx_export.h: a models::GraphBuilder that emits ONNX nodes, the
// preprocessing subgraph in front of the network, and the metadata.
//
// The relief encoding (data/depth_encoding.cpp) in ONNX ops that OpenCV 4.6's importer accepts
// (it has no Greater, Where, Max with a constant, or Clip with min/max inputs):
//   v      = Sign(Relu(d))                       exactly [d > 0]
//   sum    = Conv(d · v, ones k x k, pad k/2)    the box sums, zero outside the image as in C++
//   count  = Conv(v, ones k x k, pad k/2)
//   local  = sum / (guard + Relu(count - guard))   = sum / max(count, guard), guard = 1e-3 k²
//   r      = Relu(d - local + clip) - Relu(d - local - clip) - clip      = clamp(d - local, ±clip)
//   out    = v · (r - hole) + hole               hole = 0 (fill) or -1.5 clip (mark)
// C++ sums in double; float32 sums of k² values differ by a few ulps of the local mean, i.e.
// micrometres of relief, far below any depth sensor's resolution.
#include "tools/train/onnx_export.h"

#include <cctype>
#include <filesystem>
#include <numeric>

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "tools/train/run_info.h"

#ifdef XMKD_WITH_ONNX
#include <onnx/onnx_pb.h>

#include <fstream>
#include <set>
#include <sstream>
#endif

namespace xmkd::train {

std::string default_onnx_export_path(const std::string& run_dir, const std::string& output) {
  return run_dir + "/export/" + output + ".onnx";
}

#ifndef XMKD_WITH_ONNX

bool onnx_export_available() { return false; }

void write_onnx(const DeployedModel& model, const std::string& file) {
  (void)model;
  fail("cannot write ", file, ": xmkd was built without ONNX export (install libonnx-dev and libprotobuf-dev, ",
       "e.g. with scripts/setup.sh, and rebuild)");
}

OnnxSummary read_onnx_summary(const std::string& file) {
  fail("cannot read ", file, ": xmkd was built without ONNX export");
}

#else

bool onnx_export_available() { return true; }

namespace {

using models::GraphValue;

void set_ints(onnx::NodeProto* node, const char* name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* node, const char* name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto* node, const char* name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void set_string(onnx::NodeProto* node, const char* name, const std::string& value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

// A (N, dims...) float32 value's type with a symbolic batch and, where named, symbolic sides.
void set_type(onnx::ValueInfoProto* info, const std::vector<std::string>& dims) {
  onnx::TypeProto_Tensor* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (const std::string& d : dims) {
    onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
}

// Emits the nodes of one graph. Values are named after what produced them; the weights of a
// module keep the deployable's state-dict names ("encoder.layer1.0.conv1.weight"), found by
// the identity of the tensor the module holds.
class OnnxGraphBuilder : public models::GraphBuilder {
 public:
  OnnxGraphBuilder(onnx::GraphProto* graph, const models::Deployable& net) : graph_(graph) {
    for (const NamedTensors& tensors : {net.named_parameters(), net.named_buffers()})
      for (const auto& [name, t] : tensors) names_[t.impl().get()] = name;
  }

  // A value named `name` that no node makes (the graph input).
  GraphValue input(const std::string& name) {
    used_.insert(name);
    return value(name);
  }
  GraphValue value(const std::string& name) {
    values_.push_back(name);
    return {static_cast<int64_t>(values_.size()) - 1};
  }
  const std::string& name(GraphValue v) const {
    XMKD_CHECK(v.id >= 0 && v.id < static_cast<int64_t>(values_.size()), "onnx export: a graph value (", v.id,
               ") that this builder did not make");
    return values_[static_cast<size_t>(v.id)];
  }
  int64_t size_multiple() const { return size_multiple_; }

  // A node `op` on `inputs` with one output, named `hint` (made unique).
  std::pair<GraphValue, onnx::NodeProto*> node(const char* op, const std::vector<std::string>& inputs,
                                                const std::string& hint) {
    std::string out = hint.empty() ? str_cat(op, "_", ++counter_) : hint;
    if (!used_.insert(out).second) out = str_cat(out, "_", ++counter_);
    used_.insert(out);
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(out);
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output(out);
    return {value(out), n};
  }
  GraphValue unary(const char* op, GraphValue x) { return node(op, {name(x)}, "").first; }
  GraphValue binary(const char* op, GraphValue a, const std::string& b) { return node(op, {name(a), b}, "").first; }
  GraphValue binary(const char* op, GraphValue a, GraphValue b) { return binary(op, a, name(b)); }

  // An initializer (name made unique) holding `values` with shape `dims`; returns its name.
  std::string constant(const std::string& hint, const std::vector<float>& values, const std::vector<int64_t>& dims) {
    std::string n = hint;
    if (!used_.insert(n).second) n = str_cat(hint, "_", ++counter_);
    used_.insert(n);
    add_float_initializer(n, values, dims);
    return n;
  }
  std::string int_constant(const std::string& hint, const std::vector<int64_t>& values) {
    std::string n = str_cat(hint, "_", ++counter_);
    used_.insert(n);
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(n);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return n;
  }
  // A (C, 1, 1) per-channel constant, broadcast over (N, C, H, W). (OpenCV 4.6 cannot add or
  // subtract a (1, C, 1, 1) constant with C > 1.)
  std::string channel_constant(const std::string& hint, const std::vector<float>& values) {
    return constant(hint, values, {static_cast<int64_t>(values.size()), 1, 1});
  }

  GraphValue conv2d(GraphValue x, const nn::Conv2d& conv) override {
    const std::string w = parameter(conv.weight, "Conv2d");
    std::vector<std::string> inputs = {name(x), w};
    if (conv.bias.defined()) inputs.push_back(parameter(conv.bias, "Conv2d"));
    auto [y, n] = node("Conv", inputs, module_name(w));
    set_ints(n, "kernel_shape", {conv.weight.dim(2), conv.weight.dim(3)});
    set_ints(n, "strides", {conv.options.stride, conv.options.stride});
    const int64_t p = conv.options.padding;
    set_ints(n, "pads", {p, p, p, p});
    set_ints(n, "dilations", {conv.options.dilation, conv.options.dilation});
    return y;
  }
  GraphValue batch_norm(GraphValue x, const nn::BatchNorm& bn) override {
    const std::string w = parameter(bn.weight, "BatchNorm");
    auto [y, n] = node("BatchNormalization",
                       {name(x), w, parameter(bn.bias, "BatchNorm"), parameter(bn.running_mean, "BatchNorm"),
                        parameter(bn.running_var, "BatchNorm")},
                       module_name(w));
    set_float(n, "epsilon", bn.eps);
    return y;
  }
  GraphValue linear(GraphValue x, const nn::Linear& fc) override {
    const std::string w = parameter(fc.weight, "Linear");
    std::vector<std::string> inputs = {name(x), w};
    if (fc.bias.defined()) inputs.push_back(parameter(fc.bias, "Linear"));
    auto [y, n] = node("Gemm", inputs, module_name(w));
    set_int(n, "transB", 1);   // x (N, in) · weight (out, in)ᵀ
    return y;
  }
  GraphValue relu(GraphValue x) override { return unary("Relu", x); }
  GraphValue add(GraphValue a, GraphValue b) override { return binary("Add", a, b); }
  GraphValue max_pool2d(GraphValue x, int kernel, int stride, int padding) override {
    auto [y, n] = node("MaxPool", {name(x)}, "");
    set_ints(n, "kernel_shape", {kernel, kernel});
    set_ints(n, "strides", {stride, stride});
    set_ints(n, "pads", {padding, padding, padding, padding});
    return y;
  }
  GraphValue global_avg_pool(GraphValue x) override {
    auto [y, n] = node("Flatten", {name(unary("GlobalAveragePool", x))}, "");
    set_int(n, "axis", 1);   // (N, C, 1, 1) -> (N, C)
    return y;
  }
  GraphValue concat_channels(const std::vector<GraphValue>& xs) override {
    std::vector<std::string> inputs;
    for (GraphValue x : xs) inputs.push_back(name(x));
    auto [y, n] = node("Concat", inputs, "");
    set_int(n, "axis", 1);
    return y;
  }
  GraphValue slice_channels(GraphValue x, int64_t begin, int64_t end) override {
    return node("Slice",
                {name(x), int_constant("slice_starts", {begin}), int_constant("slice_ends", {end}),
                 int_constant("slice_axes", {1})},
                "")
        .first;
  }
  GraphValue upsample_bilinear(GraphValue x, int64_t factor) override {
    const auto f = static_cast<float>(factor);
    // half_pixel: source = (destination + 0.5) / factor - 0.5, clamped to the edge, which is the
    // engine's align_corners=false resize (kernels/cpu/upsample.cpp) for an integer factor.
    auto [y, n] = node("Resize", {name(x), "", constant("resize_scales", {1.0f, 1.0f, f, f}, {4})}, "");
    set_string(n, "mode", "linear");
    set_string(n, "coordinate_transformation_mode", "half_pixel");
    return y;
  }
  void require_input_multiple(int64_t multiple) override {
    size_multiple_ = std::lcm(size_multiple_, multiple);
  }

  // Renames the value `v` (the output of the last node that made it) to `name`.
  void rename_output(GraphValue v, const std::string& new_name) {
    const std::string old = name(v);
    for (onnx::NodeProto& n : *graph_->mutable_node())
      for (std::string& out : *n.mutable_output())
        if (out == old) out = new_name;
    values_[static_cast<size_t>(v.id)] = new_name;
  }

 private:
  // The initializer of a module's tensor, added once, named by the deployable's state dict.
  std::string parameter(const Tensor& t, const char* module) {
    XMKD_CHECK(t.defined(), "onnx export: a ", module, " without its tensor");
    auto it = names_.find(t.impl().get());
    XMKD_CHECK(it != names_.end(), "onnx export: a ", module,
               " tensor described by the network is not among the deployable's parameters and buffers");
    if (added_.insert(it->second).second) {
      used_.insert(it->second);
      add_float_initializer(it->second, t.to(Device::CPU).to_vector<float>(), t.shape());
    }
    return it->second;
  }
  // "encoder.conv1.weight" -> "encoder.conv1": a node is named after its module.
  static std::string module_name(const std::string& weight) {
    const size_t dot = weight.rfind('.');
    return dot == std::string::npos ? weight : weight.substr(0, dot);
  }
  void add_float_initializer(const std::string& n, const std::vector<float>& values, const std::vector<int64_t>& dims) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(n);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    // raw_data is little-endian float32, the host order of every machine xmkd builds on.
    t->set_raw_data(values.data(), values.size() * sizeof(float));
  }

  onnx::GraphProto* graph_;
  std::map<const void*, std::string> names_;   // tensor identity -> state-dict name
  std::vector<std::string> values_;
  std::set<std::string> used_, added_;
  int64_t counter_ = 0;
  int64_t size_multiple_ = 1;
};

// The relief encoding of a (N, 1, H, W) depth map in metres (the top of the file).
GraphValue relief(OnnxGraphBuilder& g, GraphValue d, const data::DepthEncoding& e) {
  const int64_t k = e.window, r = k / 2;
  const auto k2 = static_cast<size_t>(k * k);
  const std::string ones = g.constant("relief.box", std::vector<float>(k2, 1.0f), {1, 1, k, k});
  auto box = [&](GraphValue x) {
    auto [y, n] = g.node("Conv", {g.name(x), ones}, "");
    set_ints(n, "kernel_shape", {k, k});
    set_ints(n, "pads", {r, r, r, r});
    return y;
  };
  auto scalar = [&](const char* hint, double v) { return g.channel_constant(hint, {static_cast<float>(v)}); };
  const GraphValue v = g.unary("Sign", g.relu(d));
  const GraphValue sum = box(g.binary("Mul", d, v)), count = box(v);
  const std::string guard = scalar("relief.guard", 1e-3 * static_cast<double>(k2));
  const GraphValue denominator = g.binary("Add", g.relu(g.binary("Sub", count, guard)), guard);
  const GraphValue diff = g.binary("Sub", d, g.binary("Div", sum, denominator));
  const std::string clip = scalar("relief.clip", e.clip);
  const GraphValue clamped =
      g.binary("Sub", g.binary("Sub", g.relu(g.binary("Add", diff, clip)), g.relu(g.binary("Sub", diff, clip))), clip);
  if (e.fill_holes) return g.binary("Mul", clamped, v);
  const std::string hole = scalar("relief.hole", -1.5 * static_cast<double>(e.clip));
  return g.binary("Add", g.binary("Mul", g.binary("Sub", clamped, hole), v), hole);
}

std::string dims_text(const std::vector<std::string>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + dims[i];
  return s + ")";
}

}  // namespace

void write_onnx(const DeployedModel& model, const std::string& file) {
  XMKD_CHECK(model.module, "onnx export: the model from ", model.file, " has no module");
  const data::DepthEncoding& encoding = model.depth_encoding;
  const bool relief_in_graph = encoding.kind == data::DepthEncodingKind::Relief;
  // The graph input: the raw depth when the graph encodes it, else what the network normalises.
  const int64_t input_channels = relief_in_graph ? 1 : model.channels;

  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("xmkd");
  proto.set_doc_string(str_cat("xmkd ", model.spec.architecture, " on ", model.modality, " (from ", model.file, ")"));
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(model.spec.architecture);

  OnnxGraphBuilder g(graph, *model.module);
  const std::vector<std::string> input_dims = {"N", std::to_string(input_channels), "H", "W"};
  set_type(graph->add_input(), input_dims);
  graph->mutable_input(0)->set_name("input");
  GraphValue x = g.input("input");
  nlohmann::json in_graph = nlohmann::json::array();
  if (relief_in_graph) {
    x = relief(g, x, encoding);
    in_graph.push_back("depth_encoding");
  }
  x = g.binary("Sub", x, g.channel_constant("normalize.mean", model.mean));
  x = g.binary("Div", x, g.channel_constant("normalize.std", model.std));
  in_graph.push_back("normalize");

  GraphValue logits = model.module->describe(g, x);
  g.rename_output(logits, "logits");
  const std::string classes = model.spec.sizes.count("num_classes") ? std::to_string(model.spec.sizes.at("num_classes"))
                                                                      : std::string("classes");
  const std::vector<std::string> output_dims = model.task == data::Task::Segmentation
                                                   ? std::vector<std::string>{"N", classes, "H", "W"}
                                                   : std::vector<std::string>{"N", classes};
  set_type(graph->add_output(), output_dims);
  graph->mutable_output(0)->set_name("logits");

  std::map<std::string, std::string> metadata = model.metadata;
  metadata[onnx_meta::kInGraph] = in_graph.dump();
  metadata[onnx_meta::kSizeMultiple] = std::to_string(g.size_multiple());
  const bool depth = model.modality == "depth";
  std::string input = str_cat("input ", dims_text(input_dims), " float32: ");
  if (relief_in_graph) input += "the depth map in metres (0 = hole), encoded (relief) and normalised by the graph";
  else if (!encoding.identity())
    input += str_cat("the ", encoding.describe(), " encoding of the depth map in metres, normalised by the graph");
  else if (depth) input += "the depth map in metres, normalised by the graph";
  else input += "the image with 8-bit levels / 255 (16-bit / 65535), normalised by the graph";
  metadata[onnx_meta::kInput] = input;
  for (const auto& [key, value] : metadata) {
    onnx::StringStringEntryProto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }

  std::string bytes;
  XMKD_CHECK(proto.SerializeToString(&bytes), "onnx export: could not serialise the model for ", file);
  const std::filesystem::path parent = std::filesystem::path(file).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  io::AtomicFile out(file);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

OnnxSummary read_onnx_summary(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  XMKD_CHECK(in, "cannot open ", file);
  std::stringstream bytes;
  bytes << in.rdbuf();
  onnx::ModelProto proto;
  XMKD_CHECK(proto.ParseFromString(bytes.str()), file, ": not an ONNX model (the protobuf does not parse)");
  OnnxSummary s;
  for (const onnx::OperatorSetIdProto& o : proto.opset_import())
    if (o.domain().empty()) s.opset = o.version();
  const onnx::GraphProto& graph = proto.graph();
  for (const onnx::NodeProto& n : graph.node()) s.ops.push_back(n.op_type());
  for (const onnx::TensorProto& t : graph.initializer())
    s.initializers[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  auto dims = [](const onnx::ValueInfoProto& v) {
    std::vector<std::string> out;
    for (const onnx::TensorShapeProto_Dimension& d : v.type().tensor_type().shape().dim())
      out.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.dim_param());
    return out;
  };
  XMKD_CHECK(graph.input_size() == 1 && graph.output_size() == 1, file,
             ": expected one graph input and one output, got ", graph.input_size(), " and ", graph.output_size());
  s.input = graph.input(0).name();
  s.output = graph.output(0).name();
  s.input_dims = dims(graph.input(0));
  s.output_dims = dims(graph.output(0));
  for (const onnx::StringStringEntryProto& e : proto.metadata_props()) s.metadata[e.key()] = e.value();
  return s;
}

#endif  // XMKD_WITH_ONNX

}  // namespace xmkd::train
