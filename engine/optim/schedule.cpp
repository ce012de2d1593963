// Closed forms of PyTorch's schedulers (their _get_closed_form_lr), evaluated in double.
#include "engine/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace xmkd::optim {
namespace {

void check_step(const char* schedule, int64_t t) {
  XMKD_CHECK(t >= 0, schedule, ": the step count must be >= 0, got ", t);
}

}  // namespace

StepLr::StepLr(double base_lr, int64_t step_size, double gamma) : base_lr(base_lr), gamma(gamma), step_size(step_size) {
  XMKD_CHECK(step_size > 0, "StepLr: step_size must be positive, got ", step_size);
}

double StepLr::lr_at(int64_t t) const {
  check_step("StepLr", t);
  return base_lr * std::pow(gamma, static_cast<double>(t / step_size));
}

CosineLr::CosineLr(double base_lr, int64_t t_max, double eta_min) : base_lr(base_lr), eta_min(eta_min), t_max(t_max) {
  XMKD_CHECK(t_max > 0, "CosineLr: t_max must be positive, got ", t_max);
}

double CosineLr::lr_at(int64_t t) const {
  check_step("CosineLr", t);
  // Past t_max the learning rate stays at eta_min (PyTorch's would follow the cosine back up).
  if (t >= t_max) return eta_min;
  return eta_min + (base_lr - eta_min) * (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(t_max))) / 2.0;
}

PolyLr::PolyLr(double base_lr, int64_t total, double power) : base_lr(base_lr), power(power), total(total) {
  XMKD_CHECK(total > 0, "PolyLr: total must be positive, got ", total);
}

double PolyLr::lr_at(int64_t t) const {
  check_step("PolyLr", t);
  const double done = static_cast<double>(std::min(t, total)) / static_cast<double>(total);
  return base_lr * std::pow(1.0 - done, power);
}

WarmupLr::WarmupLr(std::shared_ptr<LrSchedule> after, int64_t warmup, double start_factor)
    : after(std::move(after)), warmup(warmup), start_factor(start_factor) {
  XMKD_CHECK(this->after, "WarmupLr: needs the schedule that follows the warm-up");
  XMKD_CHECK(warmup >= 0, "WarmupLr: warmup must be >= 0, got ", warmup);
  XMKD_CHECK(start_factor >= 0 && start_factor <= 1, "WarmupLr: start_factor must be in [0, 1], got ", start_factor);
}

double WarmupLr::lr_at(int64_t t) const {
  check_step("WarmupLr", t);
  if (t >= warmup) return after->lr_at(t - warmup);
  // LinearLR's closed form with end_factor 1.
  return after->lr_at(0) * (start_factor + (1.0 - start_factor) * static_cast<double>(t) / static_cast<double>(warmup));
}

}  // namespace xmkd::optim
