// Evaluation metrics, accumulated over a whole evaluation set through a confusion matrix
// (rows: true class, columns: predicted class).
//
// Classification: accuracy, macro F1 (mean over classes of per-class F1) and weighted F1
// (per-class F1 weighted by the class's support), as scikit-learn's f1_score with
// average='macro' / 'weighted' (a class with no true and no predicted sample has F1 0 and support
// 0, as scikit-learn's zero_division=0).
// Segmentation: IoU_c = TP / (TP + FP + FN); mIoU = mean over classes whose union is non-zero;
// pixel accuracy = correct / labelled pixels; pixels labelled 255 are ignored.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace xmkd::data {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes);
  // predictions and labels: int64, same shape ((N) or (N, H, W)), any device; labels equal to
  // ignore_index are skipped; a label or prediction outside [0, C) is an error.
  void add(const Tensor& predictions, const Tensor& labels, int64_t ignore_index = kIgnoreLabel);
  void add(int64_t label, int64_t prediction);
  int64_t num_classes() const { return classes_; }
  int64_t at(int64_t label, int64_t prediction) const { return counts_[label * classes_ + prediction]; }
  int64_t total() const;
  // The counts, label-major (label·C + prediction): what data-parallel evaluation sums over the ranks.
  const std::vector<int64_t>& counts() const { return counts_; }
  void set_counts(std::vector<int64_t> counts);   // num_classes² values

  double accuracy() const;
  double macro_f1() const;
  double weighted_f1() const;
  std::vector<double> per_class_f1() const;
  std::vector<double> per_class_iou() const;   // NaN where the union is 0
  double mean_iou() const;
  double pixel_accuracy() const { return accuracy(); }

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;
};

// Arg-max over dim 1: logits (N, C) -> (N) or (N, C, H, W) -> (N, H, W), int64.
Tensor argmax_classes(const Tensor& logits);

}  // namespace xmkd::data
