// `xmkd report`: one table from many finished runs. Each run's test results (RUN/eval.json) are
// grouped by the run's label (run.label in its config; by default the method, with the
// distillation kind for kd runs) and by output; a cell is the mean ± sample standard deviation
// over the runs of the group (seeds), x100, always with two decimals. Columns and rows come in a
// fixed order, whatever the order of the arguments: the students, the teachers, the methods, then
// the rest alphabetically; rows rgb, depth, the other modalities, then subsets and fused. With
// --baseline LABEL, a column per other label gives its gain over LABEL (difference of the means)
// on the rows both have.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/config.h"
#include "tools/train/run_info.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

using nlohmann::json;

struct ReportOptions {
  std::vector<std::string> runs;
  std::string metric, baseline;
};

json read_json(const std::string& path) {
  json document = io::read_json_file(path, " (has the run finished? `xmkd eval --run DIR` writes it)");
  XMKD_CHECK(document.is_object(), path, ": not a JSON object");
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

double mean_of(const std::vector<double>& values) {
  double mean = 0;
  for (double v : values) mean += v;
  return mean / static_cast<double>(values.size());
}

std::string cell(const std::vector<double>& values) {
  if (values.empty()) return "";
  const double mean = mean_of(values);
  char text[64];
  if (values.size() == 1) {
    std::snprintf(text, sizeof text, "%.2f", mean);
    return text;
  }
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  double sd = std::sqrt(var / static_cast<double>(values.size() - 1));
  std::snprintf(text, sizeof text, "%.2f ± %.2f (n=%zu)", mean, sd, values.size());
  return text;
}

// Where a column or row goes: known names first, in this order, then the rest alphabetically.
int rank_of(const std::string& name, const std::vector<std::string>& known) {
  for (size_t i = 0; i < known.size(); ++i)
    if (known[i] == name) return static_cast<int>(i);
  return static_cast<int>(known.size());
}

void sort_labels(std::vector<std::string>& labels) {
  static const std::vector<std::string> known = {"student", "teacher", "discom_kd", "crodino_kd", "anyseg_teacher",
                                                 "anyseg_student"};
  std::stable_sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
    const int ra = rank_of(a, known), rb = rank_of(b, known);
    return ra != rb ? ra < rb : a < b;
  });
}

void sort_outputs(std::vector<std::string>& outputs) {
  static const std::vector<std::string> known = {"rgb", "depth"};
  auto group = [](const std::string& o) { return o == "fused" ? 2 : o.find('+') != std::string::npos ? 1 : 0; };
  std::stable_sort(outputs.begin(), outputs.end(), [&](const std::string& a, const std::string& b) {
    if (group(a) != group(b)) return group(a) < group(b);
    if (group(a) == 1 && std::count(a.begin(), a.end(), '+') != std::count(b.begin(), b.end(), '+'))
      return std::count(a.begin(), a.end(), '+') < std::count(b.begin(), b.end(), '+');
    const int ra = rank_of(a, known), rb = rank_of(b, known);
    return ra != rb ? ra < rb : a < b;
  });
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
    train::require_run_directory(run, "report");
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
  sort_labels(labels);
  sort_outputs(outputs);
  // Gain columns: every label that shares a row with the baseline.
  std::vector<std::string> gains;
  if (!o.baseline.empty()) {
    XMKD_CHECK(values.count(o.baseline), "report: --baseline '", o.baseline, "' is not the label of any of the runs");
    for (const std::string& label : labels) {
      if (label == o.baseline) continue;
      bool shared = false;
      for (const auto& [output, v] : values[label]) shared = shared || !values[o.baseline][output].empty();
      if (shared) gains.push_back(label);
    }
  }
  std::printf("| %s (x100, test) |", metric.c_str());
  for (const std::string& label : labels) std::printf(" %s |", label.c_str());
  for (const std::string& label : gains) std::printf(" %s − %s |", label.c_str(), o.baseline.c_str());
  std::printf("\n|---|");
  for (size_t i = 0; i < labels.size() + gains.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& output : outputs) {
    std::printf("| %s |", output.c_str());
    for (const std::string& label : labels) std::printf(" %s |", cell(values[label][output]).c_str());
    for (const std::string& label : gains) {
      const std::vector<double>&a = values[label][output], &b = values[o.baseline][output];
      if (a.empty() || b.empty()) {
        std::printf("  |");
        continue;
      }
      std::printf(" %+.2f |", mean_of(a) - mean_of(b));
    }
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
  cmd->add_option("--baseline", o->baseline, "a label (e.g. student): add each other label's gain over it");
  cmd->add_option("--metric", o->metric, "metric key of eval.json (default: weighted_f1, or miou for segmentation)");
  cmd->callback([o] { report(*o); });
}

}  // namespace xmkd::cli
