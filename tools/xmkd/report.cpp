// `xmkd report`: one table from many finished runs. Each run's test results (RUN/eval.json) are
// grouped by the run's label (run.label in its config; by default the method, with the
// distillation kind for kd runs) and by output; a cell is the mean ± sample standard deviation
// over the runs of the group (seeds), x100.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

using nlohmann::json;

struct ReportOptions {
  std::vector<std::string> runs;
  std::string metric;
};

json read_json(const std::string& path) {
  std::ifstream in(path);
  XMKD_CHECK(in, path, ": cannot open (has the run finished? `xmkd eval --run DIR` writes it)");
  json document = json::parse(in, nullptr, /*allow_exceptions=*/false);
  XMKD_CHECK(!document.is_discarded() && document.is_object(), path, ": not a JSON object");
  return document;
}

// run.label if the config gives one; else the method name, with the distillation kind for kd.
std::string run_label(const json& config) {
  if (config.contains("run") && config["run"].value("label", "") != "") return config["run"]["label"];
  const json& method = config.at("method");
  std::string label = method.value("name", "student");
  if (label == "kd" && method.contains("distill")) {
    label = method["distill"].value("kind", "kd");
    if (method["distill"].value("lskd", false)) label += "+lskd";
  }
  return label;
}

std::string cell(const std::vector<double>& values) {
  if (values.empty()) return "";
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  if (values.size() == 1) return str_cat(std::round(mean * 100) / 100);
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  double sd = std::sqrt(var / static_cast<double>(values.size() - 1));
  char text[64];
  std::snprintf(text, sizeof text, "%.2f ± %.2f (n=%zu)", mean, sd, values.size());
  return text;
}

void report(const ReportOptions& o) {
  std::vector<std::string> labels, outputs;
  std::map<std::string, std::map<std::string, std::vector<double>>> values;   // label -> output -> x100
  std::string metric = o.metric;
  auto remember = [](std::vector<std::string>& list, const std::string& name) {
    for (const std::string& n : list) {
      if (n == name) return;
    }
    list.push_back(name);
  };
  for (const std::string& run : o.runs) {
    json config = read_json(run + "/config.json");
    json eval = read_json(run + "/eval.json");
    if (metric.empty()) metric = eval.value("task", "classification") == "segmentation" ? "miou" : "weighted_f1";
    std::string label = run_label(config);
    remember(labels, label);
    XMKD_CHECK(eval.contains("outputs"), run, "/eval.json: missing key 'outputs'");
    for (auto it = eval["outputs"].begin(); it != eval["outputs"].end(); ++it) {
      XMKD_CHECK(it.value().contains(metric), run, "/eval.json: output '", it.key(), "' has no metric '", metric, "'");
      remember(outputs, it.key());
      values[label][it.key()].push_back(100.0 * it.value()[metric].get<double>());
    }
  }
  std::printf("| %s (x100, test) |", metric.c_str());
  for (const std::string& label : labels) std::printf(" %s |", label.c_str());
  std::printf("\n|---|");
  for (size_t i = 0; i < labels.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& output : outputs) {
    std::printf("| %s |", output.c_str());
    for (const std::string& label : labels) std::printf(" %s |", cell(values[label][output]).c_str());
    std::printf("\n");
  }
}

}  // namespace

void register_report(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand("report", "Tabulate the test results of finished runs (mean ± std over seeds)");
  cmd->footer("Columns: the runs' labels (run.label, default the method; kd runs: the distillation kind). Rows: "
              "the outputs (modalities, fused, subsets). Runs sharing a label (e.g. seeds) are averaged.");
  cmd->add_option("runs", o->runs, "run directories")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--metric", o->metric, "metric key of eval.json (default: weighted_f1, or miou for segmentation)");
  cmd->callback([o] { report(*o); });
}

}  // namespace xmkd::cli
