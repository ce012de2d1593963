// What the training programs show a person: a progress bar on stderr, the training curves of a
// run as a PNG, and a grid of segmentation examples (inputs, ground truth, predictions) as a PNG.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/image_io.h"
#include "engine/tensor.h"

namespace xmkd::train {

// One epoch's (or one evaluation's) progress. Interactive: a single line on stderr redrawn with
// '\r' at most ~10 times a second, ended by finish(). Otherwise (a log file, a pipe): a plain line
// each time another tenth of the steps is done, and one at the end; no '\r' or escape codes.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total_steps, bool interactive);
  void update(int64_t steps_done, const std::vector<std::pair<std::string, double>>& stats, double samples_per_second);
  void finish(const std::string& summary);

 private:
  using Clock = std::chrono::steady_clock;
  std::string line(bool interactive) const;

  std::string label_;
  int64_t total_steps_;
  bool interactive_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool drawn_ = false;
  int64_t last_tenth_ = 0;   // plain mode: the last tenth of the steps reported
  int64_t steps_done_ = 0;
  std::vector<std::pair<std::string, double>> stats_;
  double samples_per_second_ = 0.0;
};

bool stderr_is_terminal();

// RUN/metrics.jsonl -> a ~1000x420 PNG: training loss (total and parts) per epoch on the left,
// the validation metric (weighted_f1 or miou) of every output per epoch on the right. Lines that
// do not parse (a line being written) and null/NaN values are skipped.
void write_training_curves(const std::string& metrics_jsonl, const std::string& png_path);

// One row per sample: each modality's image, the ground truth and each prediction, under a
// caption row naming the columns. Tiles are the image size scaled up by the integer factor
// seg_grid_zoom gives (nearest neighbour), kSegGridGap px apart, below kSegGridCaption px of
// captions: width = cols * (W * zoom) + (cols + 1) * gap, height = caption + rows * (H * zoom) +
// (rows + 1) * gap. images: per modality (N,C,H,W) float32 CPU, in data units: RGB in [0,1],
// depth in metres (0 = no reading). labels: (N,H,W) int64, 255 = ignore. predictions: (N,H,W)
// int64 per output name.
void write_segmentation_grid(const std::vector<std::string>& modality_names, const std::vector<Tensor>& images,
                             const Tensor& labels, const std::vector<std::pair<std::string, Tensor>>& predictions,
                             int64_t num_classes, const std::string& png_path);
constexpr int64_t kSegGridGap = 4;
constexpr int64_t kSegGridCaption = 16;
int64_t seg_grid_zoom(int64_t height, int64_t width);   // brings the longer side to >= 128 px

// The fixed class palette: class c -> a distinct colour (the same in every picture); 255
// (ignore) and negative values -> black.
std::array<uint8_t, 3> class_colour(int64_t c);
// An (H,W) int64 label map as an 8-bit RGB image in the class palette.
data::Image colourise_labels(const Tensor& label_map);

// The pieces of the progress line, exposed for tests.
struct ProgressState {
  std::string label;
  int64_t steps_done = 0, total_steps = 0;   // total 0: unknown (no bar, no ETA)
  std::vector<std::pair<std::string, double>> stats;
  double samples_per_second = 0.0;
  double elapsed_seconds = 0.0;
};
// Interactive: "train [#####.....]  50/100 loss 0.4321 | 512 samples/s | 00:12<00:12"; plain:
// "train 50/100 (50%) loss 0.4321, 512 samples/s, elapsed 00:12, eta 00:12". No line ending.
std::string format_progress_line(const ProgressState& state, bool interactive);
// "mm:ss" below an hour, "h:mm:ss" from an hour on; "--:--" for a negative or non-finite time.
std::string format_duration(double seconds);

}  // namespace xmkd::train
