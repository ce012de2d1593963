// `xmkd predict`: runs a file written by `xmkd export` on images (files or folders of them): the
// top classes (classification) or a colourised mask PNG per image and the share of each class
// (segmentation), as an aligned table, JSON or CSV on stdout.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "tools/train/export.h"
#include "tools/train/ui.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct PredictOptions {
  std::string model, out, format = "text";
  std::vector<std::string> inputs;
  int64_t top = 5;
  float depth_scale = 0;
};

// One image's result: its classes with their scores, and for segmentation where its mask went.
struct Prediction {
  std::string input, mask;
  std::vector<train::ClassScore> classes;
};

// Where each input's mask goes: --out itself for one input file (not a folder), else --out as a
// folder of <input stem>.png, which must then be unique.
std::vector<std::string> mask_paths(const PredictOptions& o, const std::vector<std::string>& inputs) {
  const bool one_file = o.inputs.size() == 1 && !fs::is_directory(o.inputs[0]);
  if (one_file && !fs::is_directory(o.out) && o.out.back() != '/') return {o.out};
  std::vector<std::string> paths;
  std::map<std::string, std::string> taken;   // mask path -> the input that took it
  for (const std::string& input : inputs) {
    const std::string mask = (fs::path(o.out) / fs::path(input).stem()).string() + ".png";
    const auto [it, fresh] = taken.emplace(mask, input);
    XMKD_CHECK(fresh, "predict: ", input, " and ", it->second, " would both write their mask to ", mask,
               " (give the images distinct names)");
    paths.push_back(mask);
  }
  return paths;
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// The table's rows as text cells: classification input, rank, index, class, probability;
// segmentation input, mask, index, class, share. For people (text) the probability has 4 decimals
// and the share is a percentage with 2; for programs (csv) both are fractions with 6 decimals.
std::vector<std::vector<std::string>> table(const std::vector<Prediction>& results, bool segmentation, bool text) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back(segmentation ? std::vector<std::string>{"input", "mask", "index", "class", text ? "share %" : "share"}
                              : std::vector<std::string>{"input", "rank", "index", "class", "probability"});
  for (const Prediction& r : results) {
    for (size_t k = 0; k < r.classes.size(); ++k) {
      const train::ClassScore& c = r.classes[k];
      rows.push_back({r.input, segmentation ? r.mask : std::to_string(k + 1), std::to_string(c.index), c.name,
                      !text ? fixed(c.score, 6) : segmentation ? fixed(100 * c.score, 2) : fixed(c.score, 4)});
    }
  }
  return rows;
}

// Columns padded to their widest cell (numbers right-aligned); an input's later rows leave its
// name (and mask) blank.
void print_text(const std::vector<std::vector<std::string>>& rows, bool segmentation) {
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  const std::vector<bool> numeric = {false, !segmentation, true, false, true};
  for (size_t r = 0; r < rows.size(); ++r) {
    const bool repeat = r > 1 && rows[r][0] == rows[r - 1][0];
    std::string line;
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const std::string cell = repeat && (c == 0 || (segmentation && c == 1)) ? "" : rows[r][c];
      const std::string pad(width[c] - cell.size(), ' ');
      line += (c ? "  " : "") + (numeric[c] && r > 0 ? pad + cell : cell + (c + 1 < rows[r].size() ? pad : ""));
    }
    std::printf("%s\n", line.c_str());
  }
}

std::string csv_field(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char ch : field) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

void print_csv(const std::vector<std::vector<std::string>>& rows) {
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += (c ? "," : "") + csv_field(row[c]);
    std::printf("%s\n", line.c_str());
  }
}

void print_json(const train::DeployedModel& model, const std::vector<Prediction>& results) {
  const bool segmentation = model.task == data::Task::Segmentation;
  json predictions = json::array();
  for (const Prediction& r : results) {
    json classes = json::array();
    for (size_t k = 0; k < r.classes.size(); ++k) {
      const train::ClassScore& c = r.classes[k];
      json entry = {{"index", c.index}, {"class", c.name}, {segmentation ? "share" : "probability", c.score}};
      if (!segmentation) entry["rank"] = k + 1;
      classes.push_back(entry);
    }
    json p = {{"input", r.input}, {"classes", classes}};
    if (segmentation) p["mask"] = r.mask;
    predictions.push_back(p);
  }
  const json doc = {{"model", model.file},
                    {"architecture", model.spec.architecture},
                    {"task", segmentation ? "segmentation" : "classification"},
                    {"modality", model.modality},
                    {"predictions", predictions}};
  std::printf("%s\n", doc.dump(2).c_str());
}

void run(const PredictOptions& o) {
  train::DeployedModel model = train::load_deployed(o.model);
  const bool segmentation = model.task == data::Task::Segmentation;
  XMKD_CHECK(!segmentation || !o.out.empty(), "predict: ", o.model,
             " is a segmentation model: give --out FILE.png for one image's mask, or --out FOLDER for several");
  const std::vector<std::string> inputs = train::collect_inputs(o.inputs);
  const std::vector<std::string> masks = segmentation ? mask_paths(o, inputs) : std::vector<std::string>{};

  std::vector<Prediction> results;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor logits = train::predict_image(model, inputs[i], o.depth_scale);
    Prediction p;
    p.input = inputs[i];
    if (!segmentation) {
      p.classes = train::top_classes(logits, model.class_names, o.top);
    } else {
      const Tensor mask = train::predicted_mask(logits);
      p.mask = masks[i];
      const fs::path parent = fs::path(p.mask).parent_path();
      if (!parent.empty()) fs::create_directories(parent);
      data::write_png8(p.mask, train::colourise_labels(mask));
      p.classes = train::class_shares(mask, model.class_names);
    }
    results.push_back(std::move(p));
  }

  if (o.format == "json") return print_json(model, results);
  if (o.format == "csv") return print_csv(table(results, segmentation, false));
  std::string encoding = model.depth_encoding.identity() ? "" : ", depth as " + model.depth_encoding.describe();
  std::printf("%s: %s on %s%s, %zu image%s\n", o.model.c_str(), model.spec.architecture.c_str(),
              model.modality.c_str(), encoding.c_str(), inputs.size(), inputs.size() == 1 ? "" : "s");
  print_text(table(results, segmentation, true), segmentation);
}

}  // namespace

void register_predict(CLI::App& app) {
  static PredictOptions o;
  auto* cmd = app.add_subcommand("predict", "Run an exported model (xmkd export) on images");
  cmd->add_option("--model", o.model, "a file written by xmkd export")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input", o.inputs,
                  "images or folders of them (.png/.jpg/.jpeg): 8-bit PNG/JPEG, or a 16-bit PNG of depth in "
                  "millimetres; repeat the option or list several")
      ->required();
  cmd->add_option("--out", o.out,
                  "segmentation (required): the mask PNG for one image, or a folder for <image name>.png masks");
  cmd->add_option("--format", o.format, "text (an aligned table), json or csv, on stdout")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json", "csv"}));
  cmd->add_option("--top", o.top, "classification: how many classes to list per image")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--depth-scale", o.depth_scale,
                  "depth models: metres per stored level, to read 8-bit depth images (or 16-bit ones in "
                  "another unit than millimetres)")
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "Examples:\n"
      "  xmkd predict --model runs/main/discom_kd/export/depth.safetensors --input scene.png\n"
      "  xmkd predict --model M.safetensors --input photos/ --format csv > predictions.csv\n"
      "  xmkd predict --model seg.safetensors --input a.png b.png --out masks/ --format json\n");
  cmd->callback([] { run(o); });
}

}  // namespace xmkd::cli
