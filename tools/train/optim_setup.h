// The optimizer and learning-rate schedule of a run, from "train.optimizer" and
// "train.schedule" (keys in trainer.h).
#pragma once
#include <memory>

#include "engine/io/config.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"

namespace xmkd::train {

std::unique_ptr<optim::Optimizer> make_optimizer(const io::ConfigNode& node, NamedTensors parameters);

struct ScheduleSetup {
  std::shared_ptr<optim::LrSchedule> schedule;
  bool per_step = false;   // t counts optimizer steps (else epochs)
  double lr(int64_t t) const { return schedule->lr_at(t); }
};

// base_lr: the optimizer's; epochs and steps_per_epoch size the schedule.
ScheduleSetup make_schedule(const io::ConfigNode& node, double base_lr, int64_t epochs, int64_t steps_per_epoch);

}  // namespace xmkd::train
