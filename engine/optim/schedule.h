// Learning-rate schedules in closed form: lr_at(t) for t = the number of scheduler steps taken
// (epochs or iterations, as the caller counts), equal to PyTorch's schedulers' get_last_lr().
#pragma once
#include <cstdint>
#include <memory>

namespace xmkd::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(int64_t t) const = 0;
};

// base · gamma^floor(t / step_size)   (StepLR)
class StepLr : public LrSchedule {
 public:
  StepLr(double base_lr, int64_t step_size, double gamma);
  double lr_at(int64_t t) const override;
  double base_lr, gamma;
  int64_t step_size;
};

// eta_min + (base - eta_min) · (1 + cos(π · t / t_max)) / 2   for t <= t_max  (CosineAnnealingLR)
class CosineLr : public LrSchedule {
 public:
  CosineLr(double base_lr, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t t) const override;
  double base_lr, eta_min;
  int64_t t_max;
};

// base · (1 - min(t, total) / total)^power   (PolynomialLR; "poly" in segmentation papers)
class PolyLr : public LrSchedule {
 public:
  PolyLr(double base_lr, int64_t total, double power = 0.9);
  double lr_at(int64_t t) const override;
  double base_lr, power;
  int64_t total;
};

// Linear warm-up for the first `warmup` steps, from start_factor·after(0) to after(0) (LinearLR),
// then after(t - warmup) (SequentialLR with LinearLR + `after`).
class WarmupLr : public LrSchedule {
 public:
  WarmupLr(std::shared_ptr<LrSchedule> after, int64_t warmup, double start_factor = 1.0 / 3.0);
  double lr_at(int64_t t) const override;
  std::shared_ptr<LrSchedule> after;
  int64_t warmup;
  double start_factor;
};

}  // namespace xmkd::optim
