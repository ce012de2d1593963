#include "tools/train/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "tools/train/evaluate.h"

namespace xmkd::train {

using nlohmann::json;

void EpochSums::add(const std::string& name, double value) {
  for (auto& [n, s] : sums) {
    if (n == name) {
      s += value;
      return;
    }
  }
  sums.emplace_back(name, value);
}

std::vector<std::pair<std::string, double>> EpochSums::means() const {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [n, s] : sums) out.emplace_back(n, steps ? s / static_cast<double>(steps) : 0.0);
  return out;
}

json EpochSums::to_json() const {
  json names = json::array(), values = json::array();
  for (const auto& [n, s] : sums) names.push_back(n), values.push_back(s);
  return {{"names", names}, {"sums", values}, {"steps", steps}, {"samples", samples}};
}

EpochSums EpochSums::from_json(const json& j) {
  EpochSums e;
  for (size_t i = 0; i < j.at("names").size(); ++i) e.sums.emplace_back(j["names"][i].get<std::string>(), j["sums"][i].get<double>());
  e.steps = j.at("steps").get<int64_t>();
  e.samples = j.at("samples").get<int64_t>();
  return e;
}

void save_last(const RunFiles& files, models::Method& method, const optim::Optimizer& optimizer,
               const Progress& progress, const std::string& method_name) {
  TensorMap tensors;
  for (const auto& [key, t] : method.state_dict()) tensors["method." + key] = t;
  for (const auto& [key, t] : optimizer.state_dict()) tensors["optimizer." + key] = t;
  json best = json::object();
  for (const auto& [output, b] : progress.best)
    if (b.epoch > 0) best[output] = {{"value", b.value}, {"epoch", b.epoch}};
  const json record = {{"epochs_done", progress.epochs_done},
                       {"step", progress.step_in_epoch},
                       {"optimizer_steps", optimizer.steps_taken()},
                       {"ranks", progress.ranks},
                       {"best", best},
                       {"partial_epoch", progress.partial.to_json()}};
  io::save_safetensors(files.last(), tensors, {{kProgressKey, record.dump()}, {meta::kMethod, method_name}});
}

Progress load_last(const RunFiles& files, models::Method& method, optim::Optimizer& optimizer) {
  std::map<std::string, std::string> metadata;
  const TensorMap all = io::load_safetensors(files.last(), &metadata);
  XMKD_CHECK(metadata.count(kProgressKey), files.last(), ": no '", kProgressKey, "' metadata (not written by xmkd train)");
  TensorMap method_state, optimizer_state;
  for (const auto& [key, t] : all) {
    if (key.rfind("method.", 0) == 0) method_state[key.substr(7)] = t;
    else if (key.rfind("optimizer.", 0) == 0) optimizer_state[key.substr(10)] = t;
    else fail(files.last(), ": unexpected tensor '", key, "' (expected method.* and optimizer.* entries)");
  }
  method.load_state_dict(method_state, /*strict=*/true, files.last());
  optimizer.load_state_dict(optimizer_state);
  const json record = json::parse(metadata[kProgressKey], nullptr, false);
  XMKD_CHECK(!record.is_discarded() && record.is_object(), files.last(), ": metadata '", kProgressKey, "' is not a JSON object");
  Progress progress;
  try {
    progress.epochs_done = record.at("epochs_done").get<int64_t>();
    progress.step_in_epoch = record.at("step").get<int64_t>();
    progress.partial = EpochSums::from_json(record.at("partial_epoch"));
    progress.ranks = record.value("ranks", int64_t{1});   // checkpoints from before data-parallel training: 1
    for (auto it = record.at("best").begin(); it != record.at("best").end(); ++it)
      progress.best[it.key()] = {it.value().at("value").get<double>(), it.value().at("epoch").get<int64_t>()};
  } catch (const json::exception& e) {
    fail(files.last(), ": metadata '", kProgressKey, "': ", e.what());
  }
  return progress;
}

void write_best(const RunFiles& files, models::Method& method, const models::MethodOutput& output,
                const RunInfo& info, const std::string& method_name, int64_t epoch, double value) {
  std::map<std::string, std::string> metadata;
  if (std::shared_ptr<models::Deployable> deployable = method.deployable(output.name)) {
    XMKD_CHECK(output.input_modalities.size() == 1, method_name, ": output '", output.name,
               "' has a deployable module but reads ", output.input_modalities.size(), " modalities");
    metadata = deploy_metadata(info, output.input_modalities[0], deployable->spec());
  } else if (!info.class_names.empty()) {
    metadata[meta::kClassNames] = json(info.class_names).dump();
  }
  metadata[meta::kOutput] = output.name;
  metadata[meta::kMethod] = method_name;
  metadata[meta::kTask] = data::task_name(info.task);
  metadata[meta::kEpoch] = std::to_string(epoch);
  metadata[meta::kMetric] = selection_metric(info.task);
  metadata[meta::kValue] = json(value).dump();
  std::filesystem::create_directories(files.dir + "/best");
  io::save_safetensors(files.best(output.name), method.checkpoint_module(output.name).state_dict(), metadata);
}

void append_metrics(const RunFiles& files, const json& line) {
  std::ofstream out(files.metrics(), std::ios::app);
  out << line.dump() << "\n";
  XMKD_CHECK(out.flush(), files.metrics(), ": cannot append");
}

void truncate_metrics(const RunFiles& files, int64_t epochs_done) {
  std::ifstream in(files.metrics());
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json entry = json::parse(line, nullptr, false);
    if (!entry.is_discarded() && entry.value("epoch", int64_t{0}) <= epochs_done) kept += line + "\n";
  }
  io::write_text_atomically(files.metrics(), kept);
}

}  // namespace xmkd::train
