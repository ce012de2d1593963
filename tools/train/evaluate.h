// Scoring a method's outputs on a split: one confusion matrix per output, the metrics the
// trainer logs and selects on (weighted F1 for classification, mIoU for segmentation), and the
// test-set evaluation of each output's best checkpoint that `xmkd train` ends with and
// `xmkd eval` repeats.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "data/metrics.h"
#include "models/method.h"
#include "tools/train/run_info.h"

namespace xmkd::train {

// The metric that selects the best checkpoint: "weighted_f1" or "miou".
const char* selection_metric(data::Task task);
double selection_value(const data::ConfusionMatrix& confusion, data::Task task);
// {"weighted_f1", "macro_f1", "accuracy"} or {"miou", "pixel_accuracy"}, as fractions in [0, 1].
std::vector<std::pair<std::string, double>> summary_metrics(const data::ConfusionMatrix& confusion, data::Task task);

// The first batch of an evaluation, kept for the prediction grid: the batch as loaded
// (normalised, on the loader's device) and the arg-max prediction of each scored output.
struct FirstBatch {
  data::Batch batch;
  std::vector<Tensor> predictions;   // per scored output, (N) or (N, H, W) int64
};

// Runs the method (eval mode, no gradients) over one pass of `loader` and scores the outputs
// whose indices (into method.outputs()) are given; restores train mode afterwards if it was on.
std::vector<data::ConfusionMatrix> evaluate_outputs(models::Method& method, data::DataLoader& loader,
                                                    const RunInfo& info, const std::vector<size_t>& outputs,
                                                    FirstBatch* first = nullptr);

// For every output of `method` with a best checkpoint in run_dir: loads it into the output's
// checkpoint module, scores the output on `loader`'s split, and collects the results into
// {"split": .., "samples": .., "outputs": {"<output>": {metrics, "epoch", "checkpoint", ..}}}.
// Segmentation runs also get RUN/predictions.png of the first batch (up to 4 samples).
// The method's weights are those of the last checkpoint loaded afterwards.
nlohmann::json evaluate_best_checkpoints(models::Method& method, const std::string& run_dir, data::DataLoader& loader,
                                         const RunInfo& info, const std::string& split);

// The evaluation as a table on stdout, one row per output, metrics ×100.
void print_evaluation(const nlohmann::json& evaluation);

}  // namespace xmkd::train
