// What a loss hands back to the trainer, and where training stands when it is computed.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace xmkd {

// Where training stands, for losses that change over time (DKD's warm-up, CTKD's λ schedule)
// and for per-step randomness (AnySeg's modality dropout draws from `gen`).
struct TrainProgress {
  int64_t epoch = 0;            // 0-based
  int64_t epochs = 1;
  int64_t step = 0;             // 0-based within the epoch
  int64_t steps_per_epoch = 1;
  Generator* gen = nullptr;     // seeded by the trainer from (seed, epoch, step)
  double fraction() const {     // of training done at this step, in [0, 1)
    return (static_cast<double>(epoch) + static_cast<double>(step) / static_cast<double>(steps_per_epoch)) /
           static_cast<double>(epochs);
  }
};

struct LossTerms {
  Tensor total;                                        // a scalar to backpropagate
  std::vector<std::pair<std::string, Tensor>> parts;   // named scalar terms for the logs (detached)
};

}  // namespace xmkd
