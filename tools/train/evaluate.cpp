#include "tools/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/io/safetensors.h"
#include "models/methods.h"
#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

using nlohmann::json;

constexpr int64_t kGridSamples = 4;

// The first `rows` rows of a CPU copy of t.
Tensor first_rows(const Tensor& t, int64_t rows) {
  const Tensor host = t.to(Device::CPU);
  Shape shape = host.shape();
  shape[0] = std::min(shape[0], rows);
  Tensor out = Tensor::empty(shape, host.dtype());
  std::memcpy(out.raw_data(), host.raw_data(), out.nbytes());
  return out;
}

// x · std[c] + mean[c]: the images back in the dataset's units. x: (N, C, H, W) float32 CPU.
Tensor denormalize(Tensor x, const std::vector<float>& mean, const std::vector<float>& std) {
  const int64_t N = x.dim(0), C = x.dim(1), plane = x.dim(2) * x.dim(3);
  float* p = x.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        float& v = p[(n * C + c) * plane + i];
        v = v * std[static_cast<size_t>(c)] + mean[static_cast<size_t>(c)];
      }
  return x;
}

void write_prediction_grid(const FirstBatch& first, const std::vector<std::string>& output_names, const RunInfo& info,
                           const std::string& png_path) {
  std::vector<std::string> names;
  std::vector<Tensor> images;
  for (size_t m = 0; m < info.modalities.size(); ++m) {
    names.push_back(info.modalities[m].name);
    images.push_back(denormalize(first_rows(first.batch.inputs[m], kGridSamples), info.normalization.mean[m],
                                 info.normalization.std[m]));
  }
  std::vector<std::pair<std::string, Tensor>> predictions;
  for (size_t k = 0; k < output_names.size(); ++k)
    predictions.emplace_back(output_names[k], first_rows(first.predictions[k], kGridSamples));
  write_segmentation_grid(names, images, first_rows(first.batch.label_maps[0], kGridSamples), predictions,
                          info.num_classes, png_path);
}

}  // namespace

const char* selection_metric(data::Task task) { return task == data::Task::Classification ? "weighted_f1" : "miou"; }

double selection_value(const data::ConfusionMatrix& confusion, data::Task task) {
  return task == data::Task::Classification ? confusion.weighted_f1() : confusion.mean_iou();
}

std::vector<std::pair<std::string, double>> summary_metrics(const data::ConfusionMatrix& confusion, data::Task task) {
  if (task == data::Task::Classification)
    return {{"weighted_f1", confusion.weighted_f1()}, {"macro_f1", confusion.macro_f1()}, {"accuracy", confusion.accuracy()}};
  return {{"miou", confusion.mean_iou()}, {"pixel_accuracy", confusion.pixel_accuracy()}};
}

std::vector<data::ConfusionMatrix> evaluate_outputs(models::Method& method, data::DataLoader& loader,
                                                    const RunInfo& info, const std::vector<size_t>& outputs,
                                                    FirstBatch* first) {
  const std::vector<models::MethodOutput> all = method.outputs();
  std::vector<data::ConfusionMatrix> confusion(outputs.size(), data::ConfusionMatrix(info.num_classes));
  const bool was_training = method.is_training();
  NoGradGuard no_grad;
  method.eval();
  loader.start_epoch(0);
  data::Batch batch;
  bool is_first = true;
  while (loader.next(batch)) {
    const std::vector<Tensor> logits = method.predict(batch);
    XMKD_CHECK(logits.size() == all.size(), method.name(), ": predict returned ", logits.size(), " tensors for ",
               all.size(), " outputs");
    if (is_first && first) first->batch = batch;
    for (size_t k = 0; k < outputs.size(); ++k) {
      const models::MethodOutput& output = all[outputs[k]];
      const auto label_modality = static_cast<size_t>(output.label_modality);
      const std::vector<Tensor>& truth = info.task == data::Task::Classification ? batch.labels : batch.label_maps;
      XMKD_CHECK(label_modality < truth.size(), method.name(), ": output '", output.name, "' is scored against modality ",
                 label_modality, " but the batch has ", truth.size(), " label tensors");
      const Tensor predicted = data::argmax_classes(logits[outputs[k]]);
      confusion[k].add(predicted, truth[label_modality]);
      if (is_first && first) first->predictions.push_back(predicted);
    }
    is_first = false;
  }
  if (was_training) method.train();
  return confusion;
}

json evaluate_best_checkpoints(models::Method& method, const std::string& run_dir, data::DataLoader& loader,
                               const RunInfo& info, const std::string& split) {
  const RunFiles files{run_dir};
  const std::vector<models::MethodOutput> outputs = method.outputs();
  json result = {{"split", split}, {"samples", loader.dataset().size()}, {"task", data::task_name(info.task)},
                 {"outputs", json::object()}};
  FirstBatch grid;
  std::vector<std::string> grid_outputs;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string path = files.best(outputs[k].name);
    if (!std::filesystem::exists(path)) {
      result["outputs"][outputs[k].name] = {{"checkpoint", nullptr}, {"note", "no validated epoch: no best checkpoint"}};
      continue;
    }
    std::map<std::string, std::string> metadata;
    method.checkpoint_module(outputs[k].name).load_state_dict(io::load_safetensors(path, &metadata), true, path);
    FirstBatch first;
    const data::ConfusionMatrix confusion = evaluate_outputs(method, loader, info, {k}, &first)[0];
    json entry = {{"checkpoint", path}};
    for (const auto& [name, value] : summary_metrics(confusion, info.task)) entry[name] = value;
    if (metadata.count(meta::kEpoch)) entry["epoch"] = std::stoll(metadata[meta::kEpoch]);
    if (info.task == data::Task::Segmentation) {
      json iou = json::array();
      for (double v : confusion.per_class_iou()) iou.push_back(std::isnan(v) ? json(nullptr) : json(v));
      entry["per_class_iou"] = iou;
      if (grid.predictions.empty()) grid.batch = first.batch;
      grid.predictions.push_back(first.predictions[0]);
      grid_outputs.push_back(outputs[k].name);
    } else {
      json matrix = json::array();
      for (int64_t t = 0; t < confusion.num_classes(); ++t) {
        json row = json::array();
        for (int64_t p = 0; p < confusion.num_classes(); ++p) row.push_back(confusion.at(t, p));
        matrix.push_back(row);
      }
      entry["confusion_matrix"] = matrix;
    }
    result["outputs"][outputs[k].name] = entry;
  }
  if (!grid.predictions.empty() && !grid.batch.label_maps.empty())
    write_prediction_grid(grid, grid_outputs, info, run_dir + "/predictions.png");
  return result;
}

void print_evaluation(const json& evaluation) {
  const bool classification = evaluation.value("task", "classification") == "classification";
  const std::vector<std::string> columns =
      classification ? std::vector<std::string>{"weighted_f1", "macro_f1", "accuracy"} : std::vector<std::string>{"miou", "pixel_accuracy"};
  size_t width = 6;
  for (auto it = evaluation["outputs"].begin(); it != evaluation["outputs"].end(); ++it) width = std::max(width, it.key().size());
  std::printf("%s split, %lld samples (metrics x100, best validation checkpoint of each output)\n",
              evaluation.value("split", "").c_str(), static_cast<long long>(evaluation.value("samples", int64_t{0})));
  std::printf("  %-*s", static_cast<int>(width), "output");
  for (const std::string& c : columns) std::printf("  %14s", c.c_str());
  std::printf("  %10s\n", "best epoch");
  for (auto it = evaluation["outputs"].begin(); it != evaluation["outputs"].end(); ++it) {
    const json& entry = it.value();
    std::printf("  %-*s", static_cast<int>(width), it.key().c_str());
    if (entry["checkpoint"].is_null()) {
      std::printf("  %s\n", entry.value("note", "").c_str());
      continue;
    }
    for (const std::string& c : columns) {
      const json& v = entry[c];
      if (v.is_number()) std::printf("  %14.2f", 100.0 * v.get<double>());
      else std::printf("  %14s", "n/a");
    }
    if (entry.contains("epoch")) std::printf("  %10lld\n", static_cast<long long>(entry["epoch"].get<int64_t>()));
    else std::printf("  %10s\n", "?");
  }
  std::fflush(stdout);
}

}  // namespace xmkd::train
