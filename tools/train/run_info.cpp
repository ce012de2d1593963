#include "tools/train/run_info.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"

namespace xmkd::train {

using nlohmann::json;

models::MethodContext RunInfo::context(Device device) const {
  models::MethodContext context;
  context.modalities = modalities;
  context.task = task;
  context.num_classes = num_classes;
  context.device = device;
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
    modalities.push_back(entry);
  }
  json document = {{"task", data::task_name(info.task)},
                   {"num_classes", info.num_classes},
                   {"class_names", info.class_names},
                   {"modalities", modalities}};
  std::string text = document.dump(2) + "\n";
  io::AtomicFile file(run_dir + "/dataset.json");
  file.write(text.data(), text.size());
  file.commit();
}

RunInfo read_run_info(const std::string& run_dir) {
  std::string path = run_dir + "/dataset.json";
  std::ifstream in(path);
  XMKD_CHECK(in, path, ": cannot open (is '", run_dir, "' an xmkd run directory?)");
  json document = json::parse(in, nullptr, /*allow_exceptions=*/false);
  XMKD_CHECK(!document.is_discarded() && document.is_object(), path, ": not a JSON object");
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
    }
  } catch (const json::exception& e) {
    fail(path, ": ", e.what());
  }
  return info;
}

}  // namespace xmkd::train
