// The teacher→student distillation losses (docs/methods.md, Baselines), for class logits (N,C) with labels (N)
// and per pixel for logits (N,C,H,W) with label maps (N,H,W) (positions labelled 255 are ignored,
// by the cross-entropy and by the distillation terms alike).
//
//   kdv1  (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)) with α = 0
//   kdv2  α·CE(s, y) + (1−α)·T²·KL(...), α = 0.5
//   dkd   CE + min(epoch/warmup, 1)·T²·[α·KL over (target, non-target) + β·KL over non-targets]
//   ctkd  CE + T²·KL with a learnable temperature trained through a GRL whose λ follows a cosine
//         schedule over training
//   mlkd  CE + Σ over T ∈ temperatures of instance KL + batch-level ‖G_s−G_t‖² (G = P·Pᵀ) +
//         class-level ‖M_s−M_t‖² (M = Pᵀ·P)
//   lskd  (a switch on any of them) z-scores each logit vector before the temperature softmax.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/io/config.h"
#include "engine/nn/module.h"
#include "engine/ops.h"
#include "losses/loss_terms.h"

namespace xmkd::losses {

struct DistillOptions {
  std::string kind = "kdv2";          // kdv1 | kdv2 | dkd | ctkd | mlkd
  bool lskd = false;
  double temperature = 4.0;           // kd, dkd; ctkd's initial temperature
  double alpha = 0.5;                 // kdv2's CE weight (kdv1 forces 0); DKD's TCKD weight (parsed default 1)
  double beta = 8.0;                  // DKD's non-target weight
  double warmup_epochs = 20.0;        // DKD's ramp
  std::vector<double> temperatures = {2, 3, 4, 5, 6};   // MLKD
  // CTKD: temperature = min + (max − min)·sigmoid(θ), λ from lambda_min to lambda_max (cosine).
  double temperature_min = 1.0, temperature_max = 21.0;
  double lambda_min = 0.0, lambda_max = 1.0;
  int64_t ignore_index = kIgnoreLabel;
};
// Reads the keys above from a config section (unknown kinds are an error listing the kinds).
DistillOptions parse_distill_options(const io::ConfigNode& config);

// A module because CTKD owns a learnable temperature (a parameter the optimizer trains).
class Distiller : public Module {
 public:
  explicit Distiller(DistillOptions options);
  // student, teacher: logits of the same shape; labels: (N) or (N,H,W) int64.
  // parts: "ce", "kd" (and "dkd_tckd"/"dkd_nckd", "mlkd_*", "temperature" where they apply).
  LossTerms loss(const Tensor& student, const Tensor& teacher, const Tensor& labels, const TrainProgress& progress);
  const DistillOptions& options() const { return options_; }

 private:
  DistillOptions options_;
  Tensor temperature_logit_;   // CTKD only
};

}  // namespace xmkd::losses
