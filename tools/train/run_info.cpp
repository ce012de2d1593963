#include "tools/train/run_info.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "engine/io/safetensors.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::train {

using nlohmann::json;

namespace {

// A JSON array of the shortest decimals that read back as the same floats ("[0.485,0.456]").
std::string float_array_json(const std::vector<float>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    char number[32] = "0";
    for (int digits = 1; digits <= 9; ++digits) {
      std::snprintf(number, sizeof number, "%.*g", digits, static_cast<double>(values[i]));
      if (std::strtof(number, nullptr) == values[i]) break;
    }
    text += (i ? "," : "") + std::string(number);
  }
  return text + "]";
}

}  // namespace

void require_run_directory(const std::string& dir, const std::string& command) {
  XMKD_CHECK(std::filesystem::is_directory(dir), command, ": ", dir, " is not a directory");
  XMKD_CHECK(std::filesystem::exists(dir + "/config.json"), command, ": ", dir,
             " is not an xmkd run directory (no config.json; `xmkd train --config CFG --out DIR` makes one)");
}

int64_t RunInfo::modality_index(const std::string& name) const {
  for (size_t m = 0; m < modalities.size(); ++m)
    if (modalities[m].name == name) return static_cast<int64_t>(m);
  return -1;
}

std::shared_ptr<models::Method> load_trained_method(const std::string& run_dir, const std::string& output,
                                                    const models::MethodContext& context) {
  RunFiles files{run_dir};
  XMKD_CHECK(std::filesystem::is_directory(run_dir), "teacher run '", run_dir, "': not a directory");
  XMKD_CHECK(std::filesystem::exists(files.config()), "teacher run '", run_dir, "': ", files.config(),
             " does not exist (is it a finished xmkd run?)");
  io::Config config = io::Config::from_json(io::read_json_file(files.config()), files.config());
  std::shared_ptr<models::Method> method = models::make_method(config.root().child("method"), context);

  const std::vector<models::MethodOutput> outputs = method->outputs();
  const bool known = std::any_of(outputs.begin(), outputs.end(), [&](const models::MethodOutput& o) { return o.name == output; });
  XMKD_CHECK(known, "teacher run '", run_dir, "' (", method->name(), ") has no output '", output, "' (it has: ",
             models::output_names(outputs), ")");
  std::string checkpoint = files.best(output);
  XMKD_CHECK(std::filesystem::exists(checkpoint), "teacher run '", run_dir, "': ", checkpoint,
             " does not exist (the run has not finished a validated epoch)");
  method->checkpoint_module(output).load_state_dict(io::load_safetensors(checkpoint), /*strict=*/true, checkpoint);
  method->to(context.device);
  method->eval();
  return method;
}

models::MethodContext RunInfo::context(Device device) const {
  models::MethodContext context;
  context.modalities = modalities;
  context.task = task;
  context.num_classes = num_classes;
  context.device = device;
  context.load_teacher = load_trained_method;
  return context;
}

void write_run_info(const std::string& run_dir, const RunInfo& info) {
  json modalities = json::array();
  for (size_t m = 0; m < info.modalities.size(); ++m) {
    json entry = {{"name", info.modalities[m].name}, {"channels", info.modalities[m].channels}};
    if (m < info.normalization.mean.size()) {
      entry["mean"] = info.normalization.mean[m];
      entry["std"] = info.normalization.std[m];
    }
    if (info.modalities[m].name == "depth" && !info.depth_encoding.identity())
      entry["encoding"] = data::depth_encoding_to_json(info.depth_encoding);
    modalities.push_back(entry);
  }
  json document = {{"task", data::task_name(info.task)},
                   {"num_classes", info.num_classes},
                   {"class_names", info.class_names},
                   {"modalities", modalities}};
  io::write_text_atomically(run_dir + "/dataset.json", document.dump(2) + "\n");
}

std::map<std::string, std::string> deploy_metadata(const RunInfo& info, int64_t m, const models::DeploySpec& spec) {
  const auto i = static_cast<size_t>(m);
  XMKD_CHECK(m >= 0 && i < info.modalities.size() && i < info.normalization.mean.size(), "deploy_metadata: modality ", m,
             " of a run with ", info.modalities.size());
  std::map<std::string, std::string> metadata = {
      {meta::kArchitecture, spec.architecture},
      {meta::kSizes, json(spec.sizes).dump()},
      {meta::kTask, data::task_name(info.task)},
      {meta::kModality, info.modalities[i].name},
      {meta::kChannels, std::to_string(info.modalities[i].channels)},
      {meta::kMean, float_array_json(info.normalization.mean[i])},
      {meta::kStd, float_array_json(info.normalization.std[i])},
  };
  if (!info.class_names.empty()) metadata[meta::kClassNames] = json(info.class_names).dump();
  if (info.modalities[i].name == "depth" && !info.depth_encoding.identity())
    metadata[meta::kDepthEncoding] = data::depth_encoding_to_json(info.depth_encoding).dump();
  return metadata;
}

RunInfo read_run_info(const std::string& run_dir) {
  std::string path = run_dir + "/dataset.json";
  json document = io::read_json_file(path, str_cat(" (is '", run_dir, "' an xmkd run directory?)"));
  XMKD_CHECK(document.is_object(), path, ": not a JSON object");
  auto need = [&](const json& node, const char* key, const std::string& where) -> const json& {
    XMKD_CHECK(node.contains(key), path, ": missing key '", where, key, "'");
    return node[key];
  };
  RunInfo info;
  try {
    info.task = data::parse_task(need(document, "task", "").get<std::string>());
    info.num_classes = need(document, "num_classes", "").get<int64_t>();
    if (document.contains("class_names")) info.class_names = document["class_names"].get<std::vector<std::string>>();
    const json& modalities = need(document, "modalities", "");
    for (size_t m = 0; m < modalities.size(); ++m) {
      std::string where = str_cat("modalities[", m, "].");
      const json& entry = modalities[m];
      info.modalities.push_back({need(entry, "name", where).get<std::string>(), need(entry, "channels", where).get<int64_t>()});
      info.normalization.mean.push_back(need(entry, "mean", where).get<std::vector<float>>());
      info.normalization.std.push_back(need(entry, "std", where).get<std::vector<float>>());
      if (entry.contains("encoding"))   // runs from before depth encodings have none: metric
        info.depth_encoding = data::depth_encoding_from_json(entry["encoding"], str_cat(path, ": key '", where, "encoding'"));
    }
  } catch (const json::exception& e) {
    fail(path, ": ", e.what());
  }
  return info;
}

}  // namespace xmkd::train
