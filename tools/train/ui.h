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
// each time another plain_every_seconds have passed, and one at the end (finish); no '\r' or
// escape codes.
class ProgressBar {
 public:
  static constexpr double kPlainEverySeconds = 30.0;
  ProgressBar(std::string label, int64_t total_steps, bool interactive, double plain_every_seconds = kPlainEverySeconds);
  // The rest of a run this bar is one epoch of: later_epochs more epochs of seconds_per_epoch
  // each (0: not measured yet, then this epoch's projected length stands in). The lines then end
  // with the time to the end of the run.
  void set_run(int64_t later_epochs, double seconds_per_epoch);
  // Draws nothing from now on (the ranks other than 0 of a data-parallel run).
  void silence() { silent_ = true; }
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
  double plain_every_seconds_;
  int64_t later_epochs_ = -1;   // -1: not part of a run (no run ETA)
  double seconds_per_epoch_ = 0.0;
  bool drawn_ = false;
  bool silent_ = false;
  int64_t steps_done_ = 0;
  std::vector<std::pair<std::string, double>> stats_;
  double samples_per_second_ = 0.0;
};

bool stderr_is_terminal();
// Seconds of the steady clock since t0.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// RUN/metrics.jsonl -> a ~1000x420 PNG: training loss (total and parts) per epoch on the left,
// the validation metric (weighted_f1 or miou, x100 as the console prints it) of every output per
// epoch on the right, each axis titled. Lines that do not parse (a line being written) and
// null/NaN values are skipped.
void write_training_curves(const std::string& metrics_jsonl, const std::string& png_path);

// What write_training_curves draws, exposed for tests.
struct CurveSeries {
  std::string name;                                 // "a = b" when series a and b had the same points
  std::vector<std::pair<double, double>> points;    // (epoch, value), finite values only
};
struct CurvePanel {
  std::string title, y_label;
  std::vector<CurveSeries> series;
  bool allow_log_y = false;   // a log axis when the values span 20x or more
};
// [0] the training loss and its parts, [1] the validation metric of each output (x100). Series
// with identical points are merged into one, so no line hides another.
std::array<CurvePanel, 2> training_curve_panels(const std::string& metrics_jsonl);

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
  double run_eta_seconds = -1.0;   // to the end of the whole run; negative: not shown
};
// Interactive: "train [#####.....]  50/100 loss 0.4321 | 512 samples/s | 00:12<00:12"; plain:
// "train 50/100 (50%) loss 0.4321, 512 samples/s, elapsed 00:12, eta 00:12". With a run ETA,
// " | run 04:10 left" (interactive) or ", run eta 04:10" (plain) follows. No line ending.
std::string format_progress_line(const ProgressState& state, bool interactive);
// The time to the end of a run: this epoch's ETA, then later_epochs of seconds_per_epoch each
// (when 0, of this epoch's projected length); negative when it cannot be told yet.
double run_eta_seconds(const ProgressState& epoch, int64_t later_epochs, double seconds_per_epoch);
// "mm:ss" below an hour, "h:mm:ss" from an hour on; "--:--" for a negative or non-finite time.
std::string format_duration(double seconds);

}  // namespace xmkd::train
