#include "tools/train/export.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "data/metrics.h"
#include "data/reader_support.h"
#include "data/transforms.h"
#include "engine/autograd.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "tools/train/run_info.h"

namespace xmkd::train {
namespace {

using nlohmann::json;

std::string join(const std::vector<std::string>& names) { return names.empty() ? "none" : join_list(names); }

std::string class_name(const std::vector<std::string>& class_names, int64_t c) {
  return c >= 0 && c < static_cast<int64_t>(class_names.size()) ? class_names[static_cast<size_t>(c)] : str_cat("class ", c);
}

models::MethodOutput find_output(models::Method& method, const std::string& output) {
  std::vector<std::string> names;
  for (const models::MethodOutput& o : method.outputs()) {
    if (o.name == output) return o;
    names.push_back(o.name);
  }
  fail("export: method '", method.name(), "' has no output '", output, "' (it has: ", join(names), ")");
}

const std::string& need(const std::map<std::string, std::string>& metadata, const std::string& file, const char* key) {
  auto it = metadata.find(key);
  XMKD_CHECK(it != metadata.end(), file, ": missing metadata key '", key,
             "' (predict runs files written by `xmkd export`)");
  return it->second;
}

json parse_value(const std::string& file, const char* key, const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  XMKD_CHECK(!value.is_discarded(), file, ": metadata key '", key, "' is not valid JSON: ", text);
  return value;
}

template <class T>
std::vector<T> parse_array(const std::string& file, const char* key, const std::string& text, const char* what) {
  json value = parse_value(file, key, text);
  try {
    XMKD_CHECK(value.is_array(), file, ": metadata key '", key, "': expected a JSON array of ", what, ", got ", text);
    return value.get<std::vector<T>>();
  } catch (const json::exception&) {
    fail(file, ": metadata key '", key, "': expected a JSON array of ", what, ", got ", text);
  }
}

}  // namespace

std::string default_export_path(const std::string& run_dir, const std::string& output) {
  return run_dir + "/export/" + output + ".safetensors";
}

DeployedModel prepare_export(models::Method& method, const std::string& output, const std::string& run_dir) {
  const models::MethodOutput target = find_output(method, output);
  const RunInfo info = read_run_info(run_dir);
  std::shared_ptr<models::Deployable> deployable = method.deployable(output);
  if (!deployable || target.input_modalities.size() != 1) {
    std::vector<std::string> exportable;
    for (const models::MethodOutput& o : method.outputs()) {
      if (o.input_modalities.size() == 1 && method.deployable(o.name)) exportable.push_back(o.name);
    }
    fail("export: output '", output, "' of method '", method.name(),
         "' is not a single-modality network; the outputs that can be exported: ", join(exportable));
  }
  // The deployable shares its parameters with the method: loading the checkpoint fills it.
  const std::string checkpoint = RunFiles{run_dir}.best(output);
  XMKD_CHECK(std::filesystem::exists(checkpoint), "export: ", checkpoint,
             " does not exist (the run has no validated checkpoint of output '", output, "' yet)");
  std::map<std::string, std::string> best_metadata;
  method.checkpoint_module(output).load_state_dict(io::load_safetensors(checkpoint, &best_metadata), /*strict=*/true,
                                                   checkpoint);
  const int64_t m = target.input_modalities[0];
  XMKD_CHECK(m >= 0 && m < static_cast<int64_t>(info.modalities.size()) &&
                 m < static_cast<int64_t>(info.normalization.mean.size()),
             "export: output '", output, "' reads modality ", m, " but ", run_dir, "/dataset.json lists ",
             info.modalities.size());

  std::map<std::string, std::string> metadata = deploy_metadata(info, m, deployable->spec());
  metadata[meta::kOutput] = output;
  metadata[meta::kMethod] = method.name();
  for (const char* key : {meta::kEpoch, meta::kMetric, meta::kValue}) {
    auto it = best_metadata.find(key);
    if (it != best_metadata.end()) metadata[key] = it->second;
  }
  DeployedModel model = deployed_from_metadata(checkpoint, metadata);
  model.module = deployable;
  model.module->eval();
  return model;
}

void export_deployable(models::Method& method, const std::string& output, const std::string& run_dir,
                       const std::string& file) {
  const DeployedModel model = prepare_export(method, output, run_dir);
  TensorMap state;
  for (const auto& [name, t] : model.module->state_dict()) state[name] = t.to(Device::CPU);
  const std::filesystem::path parent = std::filesystem::path(file).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  io::save_safetensors(file, state, model.metadata);
}

DeployedModel deployed_from_metadata(const std::string& file, const std::map<std::string, std::string>& metadata) {
  DeployedModel model;
  model.file = file;
  model.metadata = metadata;
  const auto& md = model.metadata;
  model.spec.architecture = need(md, file, meta::kArchitecture);
  {
    const json sizes = parse_value(file, meta::kSizes, need(md, file, meta::kSizes));
    bool integers = sizes.is_object();
    for (const auto& [key, value] : sizes.items()) integers = integers && value.is_number_integer();
    XMKD_CHECK(integers, file, ": metadata key '", meta::kSizes, "': expected a JSON object of integers, got ",
               md.at(meta::kSizes));
    model.spec.sizes = sizes.get<std::map<std::string, int64_t>>();
  }
  try {
    model.task = data::parse_task(need(md, file, meta::kTask));
  } catch (const Error& e) {
    fail(file, ": metadata key '", meta::kTask, "': ", e.what());
  }
  model.modality = need(md, file, meta::kModality);
  const std::string& channels = need(md, file, meta::kChannels);
  XMKD_CHECK(data::parse_int64(channels, &model.channels) && model.channels > 0, file, ": metadata key '",
             meta::kChannels, "': expected a positive integer, got '", channels, "'");
  model.mean = parse_array<float>(file, meta::kMean, need(md, file, meta::kMean), "numbers");
  model.std = parse_array<float>(file, meta::kStd, need(md, file, meta::kStd), "numbers");
  for (const char* key : {meta::kMean, meta::kStd}) {
    const auto& values = key == meta::kMean ? model.mean : model.std;
    XMKD_CHECK(static_cast<int64_t>(values.size()) == model.channels, file, ": metadata key '", key, "' has ",
               values.size(), " values for ", model.channels, " channel(s)");
  }
  if (md.count(meta::kDepthEncoding)) {
    model.depth_encoding = data::depth_encoding_from_json(
        parse_value(file, meta::kDepthEncoding, md.at(meta::kDepthEncoding)),
        str_cat(file, ": metadata key '", meta::kDepthEncoding, "'"));
    XMKD_CHECK(model.depth_encoding.channels() == model.channels, file, ": metadata key '", meta::kDepthEncoding,
               "' gives ", model.depth_encoding.channels(), " channel(s), '", meta::kChannels, "' ", model.channels);
  }
  if (md.count(meta::kClassNames)) {
    model.class_names = parse_array<std::string>(file, meta::kClassNames, md.at(meta::kClassNames), "strings");
  }
  return model;
}

DeployedModel load_deployed(const std::string& file, const DeployableFactory& make) {
  std::map<std::string, std::string> metadata;
  TensorMap weights = io::load_safetensors(file, &metadata);
  DeployedModel model = deployed_from_metadata(file, metadata);
  try {
    model.module = make(model.spec);
  } catch (const Error& e) {
    fail(file, ": metadata key '", meta::kArchitecture, "': ", e.what());
  }
  XMKD_CHECK(model.module, file, ": no module was built for architecture '", model.spec.architecture, "'");
  model.module->load_state_dict(weights, /*strict=*/true, file);
  model.module->eval();
  return model;
}

std::vector<std::string> collect_inputs(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    XMKD_CHECK(fs::exists(p), "predict: input ", p, " does not exist");
    if (!fs::is_directory(p)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> images;
    for (const fs::directory_entry& entry : fs::directory_iterator(p)) {
      std::string ext = entry.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
      if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) {
        images.push_back(entry.path().string());
      }
    }
    XMKD_CHECK(!images.empty(), "predict: folder ", p, " holds no .png, .jpg or .jpeg file");
    std::sort(images.begin(), images.end());
    files.insert(files.end(), images.begin(), images.end());
  }
  return files;
}

Tensor read_model_input(const DeployedModel& model, const std::string& path, float depth_scale) {
  // An encoded depth network reads the sensor's one-channel depth map and encodes it itself.
  const int64_t channels = model.depth_encoding.identity() ? model.channels : 1;
  const bool depth = model.modality == "depth";
  XMKD_CHECK(depth_scale >= 0 && std::isfinite(depth_scale),
             "predict: the depth scale (--depth-scale) must be a positive number of metres per level, got ", depth_scale);
  XMKD_CHECK(depth_scale == 0 || depth, "predict: a depth scale (--depth-scale) applies to a depth model, but ",
             model.file, " reads modality '", model.modality, "'");
  const data::ImageHeader header = data::read_image_header(path);
  XMKD_CHECK(data::channels_compatible(header.channels, channels), path, ": the image has ", header.channels,
             " channel(s) but the model ", model.file, " expects ", channels, " (modality '", model.modality, "')");
  XMKD_CHECK(!depth || header.bit_depth == 16 || depth_scale > 0, path, ": an ", header.bit_depth,
             "-bit image given to the depth model ", model.file, ": depth is read from 16-bit PNGs in millimetres; ",
             "an 8-bit image has no standard depth unit, so give --depth-scale with the metres of one level ",
             "(e.g. 0.04 for 0-10.2 m over 255 levels)");
  const data::Image image = data::read_image(path, header.channels == channels ? 0 : static_cast<int>(channels));
  const float scale = !depth ? data::unit_scale(image.bit_depth) : depth_scale > 0 ? depth_scale : 0.001f;
  const Tensor chw = data::image_to_tensor(image, scale, channels);
  return chw.view({1, chw.dim(0), chw.dim(1), chw.dim(2)});
}

Tensor encode_input(const DeployedModel& model, const Tensor& x) {
  check_ndim("encode_input", "x", x, 4);
  if (model.depth_encoding.identity()) return x;
  XMKD_CHECK(x.dim(0) == 1 && x.dim(1) == 1, "encode_input: ", model.file, " encodes a (1, 1, H, W) depth map, got ",
             shape_str(x.shape()));
  const Tensor encoded = data::encode_depth(x.view({1, x.dim(2), x.dim(3)}), model.depth_encoding);
  return encoded.view({1, encoded.dim(0), x.dim(2), x.dim(3)});
}

Tensor normalise_input(const DeployedModel& model, const Tensor& x) {
  check_ndim("normalise_input", "x", x, 4);
  data::Sample sample;
  sample.images.push_back(x.view({x.dim(1), x.dim(2), x.dim(3)}));
  Generator unused(0);   // normalisation draws nothing
  data::normalize(0, model.mean, model.std)->apply(sample, unused);
  return sample.images[0].view(x.shape());
}

Tensor predict_image(DeployedModel& model, const std::string& path, float depth_scale) {
  XMKD_CHECK(model.module, "predict_image: the model from ", model.file, " has no module");
  const Tensor x = normalise_input(model, encode_input(model, read_model_input(model, path, depth_scale)));
  NoGradGuard no_grad;
  model.module->eval();
  return model.module->forward(x).to(Device::CPU);
}

std::vector<ClassScore> top_classes(const Tensor& logits, const std::vector<std::string>& class_names, int64_t top_k) {
  check_ndim("top_classes", "logits", logits, 2);
  const std::vector<float> p = softmax(logits.to(Device::CPU)).to_vector<float>();
  const int64_t classes = logits.dim(1);
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  order.resize(static_cast<size_t>(std::clamp<int64_t>(top_k, 1, classes)));
  std::vector<ClassScore> top;
  for (int64_t c : order) top.push_back({c, class_name(class_names, c), p[c]});
  return top;
}

Tensor predicted_mask(const Tensor& logits) {
  check_ndim("predicted_mask", "logits", logits, 4);
  XMKD_CHECK(logits.dim(0) == 1, "predicted_mask: expected the logits of one image, got ", shape_str(logits.shape()));
  const Tensor mask = data::argmax_classes(logits.to(Device::CPU));
  return mask.view({logits.dim(2), logits.dim(3)});
}

std::vector<ClassScore> class_shares(const Tensor& mask, const std::vector<std::string>& class_names) {
  check_dtype("class_shares", "mask", mask, DType::Int64);
  std::map<int64_t, int64_t> counts;
  for (int64_t c : mask.to_vector<int64_t>()) ++counts[c];
  std::vector<ClassScore> shares;
  for (const auto& [c, count] : counts) {
    shares.push_back({c, class_name(class_names, c), static_cast<double>(count) / static_cast<double>(mask.numel())});
  }
  std::stable_sort(shares.begin(), shares.end(), [](const ClassScore& a, const ClassScore& b) { return a.score > b.score; });
  return shares;
}

}  // namespace xmkd::train
