#include "tools/train/optim_setup.h"

#include <cmath>
#include <vector>

namespace xmkd::train {
namespace {

// A schedule that keeps the base rate.
class ConstantLr : public optim::LrSchedule {
 public:
  explicit ConstantLr(double base_lr) : base_lr_(base_lr) {}
  double lr_at(int64_t) const override { return base_lr_; }

 private:
  double base_lr_;
};

double positive(const io::ConfigNode& node, const char* key, double fallback) {
  const double v = node.get_float(key, fallback);
  if (!(v > 0.0) || !std::isfinite(v)) node.fail(key, str_cat("expected a positive number, got ", v));
  return v;
}

double non_negative(const io::ConfigNode& node, const char* key, double fallback) {
  const double v = node.get_float(key, fallback);
  if (!(v >= 0.0) || !std::isfinite(v)) node.fail(key, str_cat("expected a number >= 0, got ", v));
  return v;
}

}  // namespace

std::unique_ptr<optim::Optimizer> make_optimizer(const io::ConfigNode& node, NamedTensors parameters) {
  const std::string name = node.get_choice("name", "adam", {"adam", "adamw", "sgd"});
  if (name == "sgd") {
    optim::SGDOptions o;
    o.lr = positive(node, "lr", 0.01);
    o.momentum = non_negative(node, "momentum", 0.9);
    o.dampening = non_negative(node, "dampening", 0.0);
    o.weight_decay = non_negative(node, "weight_decay", 0.0);
    o.nesterov = node.get_bool("nesterov", false);
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
      node.fail("nesterov", "Nesterov momentum needs momentum > 0 and dampening 0");
    return std::make_unique<optim::SGD>(std::move(parameters), o);
  }
  optim::AdamOptions o;
  o.lr = positive(node, "lr", 1e-3);
  o.weight_decay = non_negative(node, "weight_decay", name == "adamw" ? 1e-2 : 0.0);
  const std::vector<double> betas = node.get_floats("betas", {0.9, 0.999});
  if (betas.size() != 2 || !(betas[0] >= 0 && betas[0] < 1) || !(betas[1] >= 0 && betas[1] < 1))
    node.fail("betas", "expected [beta1, beta2], each in [0, 1)");
  o.beta1 = betas[0];
  o.beta2 = betas[1];
  o.eps = positive(node, "eps", 1e-8);
  if (name == "adamw") return std::make_unique<optim::AdamW>(std::move(parameters), o);
  return std::make_unique<optim::Adam>(std::move(parameters), o);
}

ScheduleSetup make_schedule(const io::ConfigNode& node, double base_lr, int64_t epochs, int64_t steps_per_epoch) {
  const std::string name = node.get_choice("name", "constant", {"constant", "cosine", "step", "poly"});
  ScheduleSetup setup;
  setup.per_step = node.get_choice("unit", "epoch", {"epoch", "step"}) == "step";
  const int64_t per_epoch = setup.per_step ? steps_per_epoch : 1;
  const int64_t warmup_epochs = node.get_int("warmup_epochs", 0);
  if (warmup_epochs < 0 || warmup_epochs >= epochs)
    node.fail("warmup_epochs", str_cat("expected 0 <= warmup_epochs < train.epochs (", epochs, "), got ", warmup_epochs));
  const int64_t warmup = warmup_epochs * per_epoch, total = epochs * per_epoch - warmup;
  if (name == "constant") {
    setup.schedule = std::make_shared<ConstantLr>(base_lr);
  } else if (name == "cosine") {
    setup.schedule = std::make_shared<optim::CosineLr>(base_lr, total, non_negative(node, "eta_min", 0.0));
  } else if (name == "step") {
    const int64_t step_size = node.get_int("step_size", 30);
    if (step_size < 1) node.fail("step_size", str_cat("expected at least 1 epoch, got ", step_size));
    setup.schedule = std::make_shared<optim::StepLr>(base_lr, step_size * per_epoch, node.get_float("gamma", 0.1));
  } else {
    setup.schedule = std::make_shared<optim::PolyLr>(base_lr, total, positive(node, "power", 0.9));
  }
  const double start = node.get_float("warmup_start_factor", 1.0 / 3.0);
  if (!(start > 0.0 && start <= 1.0)) node.fail("warmup_start_factor", "expected a factor in (0, 1]");
  if (warmup > 0) {
    setup.schedule = std::make_shared<optim::WarmupLr>(setup.schedule, warmup, start);
  }
  return setup;
}

}  // namespace xmkd::train
