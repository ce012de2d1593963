// The run files the training loop writes, each a small piece a reader can hold on its own:
// last.safetensors (the method, the optimizer and the progress that resumes a run exactly),
// best/<output>.safetensors (each output's best validation checkpoint with what `xmkd export`
// needs), and metrics.jsonl (one JSON line per epoch).
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/optim/optimizer.h"
#include "models/method.h"
#include "tools/train/run_info.h"

namespace xmkd::train {

// The metadata key of last.safetensors holding the training progress as JSON.
constexpr const char* kProgressKey = "xmkd.progress";

// Running sums of one epoch's loss terms ("loss" is the total), in the order first seen.
struct EpochSums {
  std::vector<std::pair<std::string, double>> sums;
  int64_t steps = 0, samples = 0;

  void add(const std::string& name, double value);
  std::vector<std::pair<std::string, double>> means() const;   // sums / steps
  nlohmann::json to_json() const;
  static EpochSums from_json(const nlohmann::json& j);
};

// An output's best validation value so far and the epoch (1-based) it was reached; epoch 0: none.
struct Best {
  double value = -std::numeric_limits<double>::infinity();
  int64_t epoch = 0;
};

// What last.safetensors records beside the weights: where the run is.
struct Progress {
  int64_t epochs_done = 0;
  int64_t step_in_epoch = 0;   // steps of epoch `epochs_done` already taken (an interrupted epoch)
  EpochSums partial;           // their loss sums
  std::map<std::string, Best> best;
  int64_t ranks = 1;           // the data-parallel ranks that trained it (a resume needs as many)
};

// RUN/last.safetensors, written atomically: method.* and optimizer.* tensors, the progress under
// kProgressKey and the method's name.
void save_last(const RunFiles& files, models::Method& method, const optim::Optimizer& optimizer,
               const Progress& progress, const std::string& method_name);
// Loads what save_last wrote into method and optimizer (strictly) and returns the progress;
// errors name the file and the key.
Progress load_last(const RunFiles& files, models::Method& method, optim::Optimizer& optimizer);

// RUN/best/<output>.safetensors: the output's checkpoint module with the metadata that makes a
// single-modality network deployable (tools/train/run_info.h, deploy_metadata), the epoch and the
// selection metric's value.
void write_best(const RunFiles& files, models::Method& method, const models::MethodOutput& output,
                const RunInfo& info, const std::string& method_name, int64_t epoch, double value);

// metrics.jsonl: one line appended per epoch; truncate_metrics keeps the lines of the epochs done
// (a run stopped after writing a line but before saving its checkpoint repeats that epoch).
void append_metrics(const RunFiles& files, const nlohmann::json& line);
void truncate_metrics(const RunFiles& files, int64_t epochs_done);

}  // namespace xmkd::train
