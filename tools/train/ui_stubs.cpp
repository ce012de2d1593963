// TEMPORARY: no-op definitions of tools/train/ui.h so that the trainer builds before the real
// progress bar, curves and prediction grid land (tools/train/progress.cpp, plot.cpp,
// seg_grid.cpp). DELETE THIS FILE WHEN MERGING THEM.
#include <unistd.h>

#include "tools/train/ui.h"

namespace xmkd::train {

struct ProgressBar::State {};
ProgressBar::ProgressBar(std::string, int64_t, bool) : state_(std::make_unique<State>()) {}
ProgressBar::~ProgressBar() = default;
void ProgressBar::update(int64_t, const std::vector<std::pair<std::string, double>>&, double) {}
void ProgressBar::finish(const std::string&) {}

bool stderr_is_terminal() { return isatty(2) != 0; }

void write_training_curves(const std::string&, const std::string&) {}

void write_segmentation_grid(const std::vector<std::string>&, const std::vector<Tensor>&, const Tensor&,
                             const std::vector<std::pair<std::string, Tensor>>&, int64_t, const std::string&) {}

}  // namespace xmkd::train
