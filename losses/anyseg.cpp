#include "losses/anyseg.h"

#include "engine/ops.h"

namespace xmkd::losses {
namespace {

// Both lists have the same stages and, per stage, the same number of modalities and shapes.
void check_paired(const char* loss, const StageFeatures& student, const StageFeatures& teacher) {
  XMKD_CHECK(!student.empty() && student.size() == teacher.size(), loss, ": student has ", student.size(),
             " stages, teacher ", teacher.size(), " (need the same number, at least one)");
  for (size_t s = 0; s < student.size(); ++s) {
    XMKD_CHECK(!student[s].empty() && student[s].size() == teacher[s].size(), loss, ": stage ", s, ": student has ",
               student[s].size(), " modalities, teacher ", teacher[s].size(), " (need the same number, at least one)");
    for (size_t j = 0; j < student[s].size(); ++j) {
      XMKD_CHECK(student[s][j].shape() == teacher[s][j].shape(), loss, ": stage ", s, " modality ", j,
                 ": student features ", shape_str(student[s][j].shape()), " vs teacher ",
                 shape_str(teacher[s][j].shape()));
    }
  }
}

Tensor mean_of(const std::vector<Tensor>& terms) {
  Tensor total = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) total = add(total, terms[i]);
  return scale(total, 1.0f / static_cast<float>(terms.size()));
}

}  // namespace

AnySegLossWeights parse_anyseg_loss_weights(const io::ConfigNode& config) {
  AnySegLossWeights w;
  auto read = [&](const char* key, double fallback) {
    double value = config.get_float(key, fallback);
    if (!(value >= 0.0)) config.fail(key, "expected a weight >= 0, got " + std::to_string(value));
    return value;
  };
  w.ce = read("ce", w.ce);
  w.umd = read("umd", w.umd);
  w.cmd = read("cmd", w.cmd);
  w.mad = read("mad", w.mad);
  return w;
}

Tensor unimodal_distillation_loss(const StageFeatures& student, const StageFeatures& teacher) {
  check_paired("anyseg L_umd", student, teacher);
  std::vector<Tensor> terms;
  for (size_t s = 0; s < student.size(); ++s)
    for (size_t j = 0; j < student[s].size(); ++j) terms.push_back(kl_div_logits(student[s][j], teacher[s][j]));
  return mean_of(terms);
}

Tensor crossmodal_distillation_loss(const StageFeatures& student, const StageFeatures& teacher) {
  check_paired("anyseg L_cmd", student, teacher);
  std::vector<Tensor> terms;
  for (size_t s = 0; s < student.size(); ++s) {
    for (size_t i = 0; i < student[s].size(); ++i) {
      for (size_t j = i + 1; j < student[s].size(); ++j) {
        Tensor student_map = cosine_similarity(student[s][i], student[s][j]);   // (N, H_s, W_s)
        Tensor teacher_map = cosine_similarity(teacher[s][i], teacher[s][j]);
        terms.push_back(mse_loss(student_map, teacher_map));
      }
    }
  }
  if (terms.empty()) return Tensor::scalar(0.0f, student[0][0].device());   // one modality: no pair
  return mean_of(terms);
}

Tensor modality_agnostic_distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits) {
  check_ndim("anyseg L_mad", "student logits", student_logits, 4);
  XMKD_CHECK(student_logits.shape() == teacher_logits.shape(), "anyseg L_mad: student logits ",
             shape_str(student_logits.shape()), " vs teacher logits ", shape_str(teacher_logits.shape()));
  return kl_div_logits(student_logits, teacher_logits);
}

LossTerms anyseg_student_loss(const Tensor& student_logits, const Tensor& labels, const Tensor& teacher_logits,
                              const StageFeatures& student_features, const StageFeatures& teacher_features,
                              const AnySegLossWeights& weights) {
  CrossEntropyOptions ce_options;
  ce_options.ignore_index = kIgnoreLabel;
  Tensor ce = cross_entropy(student_logits, labels, ce_options);
  Tensor umd = unimodal_distillation_loss(student_features, teacher_features);
  Tensor cmd = crossmodal_distillation_loss(student_features, teacher_features);
  Tensor mad = modality_agnostic_distillation_loss(student_logits, teacher_logits);
  LossTerms terms;
  terms.total = add(add(scale(ce, static_cast<float>(weights.ce)), scale(umd, static_cast<float>(weights.umd))),
                    add(scale(cmd, static_cast<float>(weights.cmd)), scale(mad, static_cast<float>(weights.mad))));
  terms.parts = {{"ce", ce.detach()}, {"umd", umd.detach()}, {"cmd", cmd.detach()}, {"mad", mad.detach()}};
  return terms;
}

}  // namespace xmkd::losses
