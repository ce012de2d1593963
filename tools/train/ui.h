// What the trainer shows a person: a progress line per epoch, the training curves after every
// epoch and, for segmentation, a grid of test predictions at the end.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace xmkd::train {

// One epoch's progress on stderr: redrawn in place on a terminal (interactive), otherwise a few
// plain lines so that logs stay short.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total_steps, bool interactive);
  // stats: running means shown beside the bar, e.g. {"loss", 0.71}.
  void update(int64_t steps_done, const std::vector<std::pair<std::string, double>>& stats, double samples_per_second);
  void finish(const std::string& summary);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  struct State;   // defined by the implementation
  std::unique_ptr<State> state_;
};

bool stderr_is_terminal();

// Reads RUN/metrics.jsonl (one JSON object per epoch) and draws the training loss and every
// validation metric against the epoch into a PNG.
void write_training_curves(const std::string& metrics_jsonl, const std::string& png_path);

// One row per sample: each modality's image (de-normalised, in data units), the label map, then
// each output's predicted map. images: per modality (N,C,H,W) float32 CPU; labels (N,H,W) int64;
// predictions: per output (N,H,W) int64.
void write_segmentation_grid(const std::vector<std::string>& modality_names, const std::vector<Tensor>& images,
                             const Tensor& labels, const std::vector<std::pair<std::string, Tensor>>& predictions,
                             int64_t num_classes, const std::string& png_path);

}  // namespace xmkd::train
