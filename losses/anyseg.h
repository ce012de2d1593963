// AnySeg's student loss (docs/methods.md, AnySeg):
//   total = w_ce·CE + w_umd·L_umd + w_cmd·L_cmd + w_mad·L_mad   (defaults 1, 5, 10, 50)
// Features come per stage and per kept modality: features[s][j] is stage s (C2..C5) of the j-th
// kept modality, (N, C_s, H_s, W_s); the student's and the teacher's lists pair up entry by entry.
//
//   L_umd = mean over (s, j) of mean over positions KL(softmax_c(t[s][j]) ‖ softmax_c(f[s][j]))
//   L_cmd = mean over (s, i<j) of mse(cos_c(f[s][i], f[s][j]), cos_c(t[s][i], t[s][j]))
//           (cos_c: the cosine of the channel vectors at each position, a (N, H_s, W_s) map;
//           0 when a single modality is kept: there is no pair)
//   L_mad = mean over all pixels KL(softmax(teacher logits, all modalities) ‖ softmax(student logits))
#pragma once
#include <vector>

#include "engine/io/config.h"
#include "losses/loss_terms.h"

namespace xmkd::losses {

using StageFeatures = std::vector<std::vector<Tensor>>;   // [stage][kept modality]

struct AnySegLossWeights {
  double ce = 1.0, umd = 5.0, cmd = 10.0, mad = 50.0;
};
// Reads ce, umd, cmd, mad (each a number >= 0) from the "weights" section.
AnySegLossWeights parse_anyseg_loss_weights(const io::ConfigNode& weights);

Tensor unimodal_distillation_loss(const StageFeatures& student, const StageFeatures& teacher);
Tensor crossmodal_distillation_loss(const StageFeatures& student, const StageFeatures& teacher);
Tensor modality_agnostic_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits);

// The student's loss of one batch. labels: (N, H, W) int64, 255 ignored by the CE. Teacher
// tensors carry no gradient (computed under NoGradGuard). parts: "ce", "umd", "cmd", "mad",
// each UNWEIGHTED (the total applies the weights).
LossTerms anyseg_student_loss(const Tensor& student_logits, const Tensor& labels, const Tensor& teacher_logits,
                              const StageFeatures& student_features, const StageFeatures& teacher_features,
                              const AnySegLossWeights& weights);

}  // namespace xmkd::losses
