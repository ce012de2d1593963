// `xmkd parity`: one forward, cross-entropy and backward of a model from a state dict on a given
// batch, written out for comparison with another framework (docs/parity.md):
//   logits, loss, grad.<parameter> for every parameter, state.<buffer> for every buffer (after
//   the forward: train mode updates the batch-norm running statistics).
// The model's shape comes from the state dict: in_channels from conv1.weight, num_classes from
// fc.weight (resnet18) or decoder.classifier.weight (segmenter), so a torchvision resnet18 state
// dict converted to safetensors loads as it is.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "models/resnet18.h"
#include "models/segmenter.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct ParityOptions {
  std::string model, weights, input, labels, out;
  bool eval = false;
  int64_t ignore_index = -100;
  bool ignore_index_given = false;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string key_list(const TensorMap& tensors) {
  std::string out;
  int shown = 0;
  for (const auto& [key, t] : tensors) {
    if (shown++ == 8) return out + ", ...";
    out += (out.empty() ? "" : ", ") + key;
  }
  return out.empty() ? "no tensors" : out;
}

// A .npy array, or the tensor `key` of a safetensors file.
Tensor load_tensor(const std::string& path, const std::string& key) {
  if (ends_with(path, ".npy")) return io::load_npy(path);
  TensorMap tensors = io::load_safetensors(path);
  auto it = tensors.find(key);
  XMKD_CHECK(it != tensors.end(), path, ": no tensor named '", key, "' (the file has: ", key_list(tensors),
             "); give a safetensors file with a tensor '", key, "', or a .npy file");
  return it->second;
}

// The dimension `dim` of weights[key], which must exist with `ndim` dimensions.
int64_t weight_dim(const TensorMap& weights, const std::string& path, const std::string& key, int ndim, int dim,
                   const std::string& model) {
  auto it = weights.find(key);
  XMKD_CHECK(it != weights.end(), path, ": no '", key, "' in the state dict, so it is not a ", model,
             " state dict (it has: ", key_list(weights), ")");
  XMKD_CHECK(it->second.ndim() == ndim, path, ": '", key, "' has shape ", shape_str(it->second.shape()), ", expected ",
             ndim, " dimensions");
  return it->second.dim(dim);
}

std::shared_ptr<Module> build_model(const ParityOptions& o, const TensorMap& weights, int64_t& in_channels,
                                    int64_t& num_classes) {
  if (o.model == "resnet18") {
    in_channels = weight_dim(weights, o.weights, "conv1.weight", 4, 1, "resnet18");
    num_classes = weight_dim(weights, o.weights, "fc.weight", 2, 0, "resnet18 (with a classifier)");
    return std::make_shared<models::ResNet18>(in_channels, num_classes);
  }
  in_channels = weight_dim(weights, o.weights, "encoder.conv1.weight", 4, 1, "segmenter");
  num_classes = weight_dim(weights, o.weights, "decoder.classifier.weight", 4, 0, "segmenter");
  std::vector<int64_t> stages;
  for (int i = 0; i < 3; ++i)
    stages.push_back(weight_dim(weights, o.weights, "decoder.stages." + std::to_string(i) + ".conv.weight", 4, 0,
                                "segmenter"));
  return std::make_shared<models::Segmenter>(in_channels, num_classes, stages);
}

void check_batch(const ParityOptions& o, const Tensor& x, const Tensor& labels, int64_t in_channels) {
  XMKD_CHECK(x.dtype() == DType::Float32 && x.ndim() == 4, o.input, ": 'input' is ", x.str(),
             "; expected float32 (N, C, H, W)");
  XMKD_CHECK(x.dim(1) == in_channels, o.input, ": 'input' has ", x.dim(1), " channels but the weights in ", o.weights,
             " expect ", in_channels, " (input ", shape_str(x.shape()), ")");
  XMKD_CHECK(labels.dtype() == DType::Int64 || labels.dtype() == DType::Int32, o.labels, ": 'labels' is ",
             labels.str(), "; expected int64 or int32 class indices");
  const Shape expected = o.model == "resnet18" ? Shape{x.dim(0)} : Shape{x.dim(0), x.dim(2), x.dim(3)};
  XMKD_CHECK(labels.shape() == expected, o.labels, ": 'labels' has shape ", shape_str(labels.shape()),
             "; for a ", o.model, " input ", shape_str(x.shape()), " it must be ", shape_str(expected));
}

void run_parity(const ParityOptions& o) {
  TensorMap weights = io::load_safetensors(o.weights);
  int64_t in_channels = 0, num_classes = 0;
  std::shared_ptr<Module> model = build_model(o, weights, in_channels, num_classes);
  model->load_state_dict(weights, /*strict=*/true, o.weights);
  Tensor x = load_tensor(o.input, "input");
  Tensor labels = load_tensor(o.labels, "labels");
  check_batch(o, x, labels, in_channels);

  model->train(!o.eval);
  CrossEntropyOptions ce;
  ce.ignore_index = o.ignore_index_given ? o.ignore_index : (o.model == "segmenter" ? kIgnoreLabel : -100);
  Tensor logits = model->forward(x);
  Tensor loss = cross_entropy(logits, labels, ce);
  loss.backward();

  TensorMap out{{"logits", logits.detach()}, {"loss", loss.detach()}};
  for (const auto& [name, p] : model->named_parameters())
    out["grad." + name] = p.grad().defined() ? p.grad() : Tensor::zeros_like(p);   // unused: gradient 0
  for (const auto& [name, b] : model->named_buffers()) out["state." + name] = b;
  const std::map<std::string, std::string> metadata{
      {"model", o.model}, {"mode", o.eval ? "eval" : "train"}, {"ignore_index", std::to_string(ce.ignore_index)},
      {"weights", o.weights}, {"input", o.input}, {"labels", o.labels}};
  io::save_safetensors(o.out, out, metadata);
  std::printf("xmkd parity: %s (%lld channels, %lld classes), %s mode, loss %.9g; wrote %zu tensors to %s\n",
              o.model.c_str(), static_cast<long long>(in_channels), static_cast<long long>(num_classes),
              o.eval ? "eval" : "train", static_cast<double>(loss.item()), out.size(), o.out.c_str());
}

}  // namespace

void register_parity(CLI::App& app) {
  auto o = std::make_shared<ParityOptions>();
  auto* cmd = app.add_subcommand(
      "parity", "Run one forward, cross-entropy and backward from a state dict and write logits, loss, every "
                "parameter gradient (grad.<name>) and buffer (state.<name>) to a safetensors file");
  cmd->add_option("--model", o->model, "resnet18 or segmenter")->required()->check(CLI::IsMember({"resnet18", "segmenter"}));
  cmd->add_option("--weights", o->weights, "state dict (.safetensors); shapes give in_channels and num_classes")
      ->required();
  cmd->add_option("--input", o->input, "float32 (N, C, H, W): a .npy file, or a safetensors file with a tensor 'input'")
      ->required();
  cmd->add_option("--labels", o->labels,
                  "int64/int32 labels, (N) for resnet18, (N, H, W) for segmenter: .npy, or safetensors 'labels'")
      ->required();
  cmd->add_option("--out", o->out, "output .safetensors file")->required();
  cmd->add_flag("--eval", o->eval, "evaluation mode (running batch-norm statistics); default: train mode");
  auto* ignore = cmd->add_option("--ignore-index", o->ignore_index,
                                 "label that contributes nothing (default -100 for resnet18, 255 for segmenter)");
  cmd->callback([o, ignore] {
    o->ignore_index_given = ignore->count() > 0;
    run_parity(*o);
  });
}

}  // namespace xmkd::cli
