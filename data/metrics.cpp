// The confusion matrix and the metrics read from it (formulas in data/metrics.h).
#include "data/metrics.h"

#include <cmath>
#include <limits>

namespace xmkd::data {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes) : classes_(num_classes) {
  XMKD_CHECK(num_classes > 0, "ConfusionMatrix: num_classes must be > 0, got ", num_classes);
  counts_.assign(static_cast<size_t>(num_classes * num_classes), 0);
}

void ConfusionMatrix::add(int64_t label, int64_t prediction) {
  XMKD_CHECK(label >= 0 && label < classes_, "ConfusionMatrix::add: label ", label, " outside [0, ", classes_, ")");
  XMKD_CHECK(prediction >= 0 && prediction < classes_, "ConfusionMatrix::add: prediction ", prediction, " outside [0, ", classes_,
             ")");
  ++counts_[label * classes_ + prediction];
}

void ConfusionMatrix::add(const Tensor& predictions, const Tensor& labels, int64_t ignore_index) {
  check_defined("ConfusionMatrix::add", "predictions", predictions);
  check_defined("ConfusionMatrix::add", "labels", labels);
  check_dtype("ConfusionMatrix::add", "predictions", predictions, DType::Int64);
  check_dtype("ConfusionMatrix::add", "labels", labels, DType::Int64);
  check_same_shape("ConfusionMatrix::add", predictions, labels);
  const std::vector<int64_t> pred = predictions.to_vector<int64_t>();   // host copies: any device
  const std::vector<int64_t> truth = labels.to_vector<int64_t>();
  // Validate everything before counting, so a bad batch leaves the matrix unchanged.
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == ignore_index) continue;
    XMKD_CHECK(truth[i] >= 0 && truth[i] < classes_, "ConfusionMatrix::add: label ", truth[i], " at element ", i, " of ",
               labels.str(), " outside [0, ", classes_, ") and not the ignore index ", ignore_index);
    XMKD_CHECK(pred[i] >= 0 && pred[i] < classes_, "ConfusionMatrix::add: prediction ", pred[i], " at element ", i, " of ",
               predictions.str(), " outside [0, ", classes_, ")");
  }
  for (size_t i = 0; i < truth.size(); ++i)
    if (truth[i] != ignore_index) ++counts_[truth[i] * classes_ + pred[i]];
}

void ConfusionMatrix::set_counts(std::vector<int64_t> counts) {
  XMKD_CHECK(counts.size() == counts_.size(), "ConfusionMatrix::set_counts: ", counts.size(), " counts for ", classes_,
             " classes (expected ", counts_.size(), ")");
  counts_ = std::move(counts);
}

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (int64_t v : counts_) sum += v;
  return sum;
}

// NaN for an empty matrix: there is nothing to be accurate about.
double ConfusionMatrix::accuracy() const {
  int64_t correct = 0;
  for (int64_t c = 0; c < classes_; ++c) correct += at(c, c);
  const int64_t n = total();
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(correct) / static_cast<double>(n);
}

// F1_c = 2 TP / (2 TP + FP + FN) (= 2PR / (P + R)); 0 when the class is neither true nor predicted.
std::vector<double> ConfusionMatrix::per_class_f1() const {
  std::vector<double> f1(static_cast<size_t>(classes_), 0.0);
  for (int64_t c = 0; c < classes_; ++c) {
    int64_t row = 0, col = 0;
    for (int64_t k = 0; k < classes_; ++k) {
      row += at(c, k);
      col += at(k, c);
    }
    const int64_t tp = at(c, c), denominator = row + col;   // 2 TP + FN + FP
    if (denominator > 0) f1[c] = 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
  }
  return f1;
}

double ConfusionMatrix::macro_f1() const {
  double sum = 0.0;
  for (double f : per_class_f1()) sum += f;
  return sum / static_cast<double>(classes_);
}

// Weighted by each class's support (its row sum); 0 for an empty matrix.
double ConfusionMatrix::weighted_f1() const {
  const std::vector<double> f1 = per_class_f1();
  double sum = 0.0;
  for (int64_t c = 0; c < classes_; ++c) {
    int64_t support = 0;
    for (int64_t k = 0; k < classes_; ++k) support += at(c, k);
    sum += static_cast<double>(support) * f1[c];
  }
  const int64_t n = total();
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

std::vector<double> ConfusionMatrix::per_class_iou() const {
  std::vector<double> iou(static_cast<size_t>(classes_), std::numeric_limits<double>::quiet_NaN());
  for (int64_t c = 0; c < classes_; ++c) {
    int64_t row = 0, col = 0;
    for (int64_t k = 0; k < classes_; ++k) {
      row += at(c, k);
      col += at(k, c);
    }
    const int64_t tp = at(c, c), union_ = row + col - tp;   // TP + FN + FP
    if (union_ > 0) iou[c] = static_cast<double>(tp) / static_cast<double>(union_);
  }
  return iou;
}

// Mean over the classes whose union is non-zero; NaN when there is none (an empty matrix).
double ConfusionMatrix::mean_iou() const {
  double sum = 0.0;
  int64_t n = 0;
  for (double v : per_class_iou())
    if (!std::isnan(v)) {
      sum += v;
      ++n;
    }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(n);
}

// The first maximum wins a tie; a NaN counts as larger than any number (the first NaN wins).
Tensor argmax_classes(const Tensor& logits) {
  check_defined("argmax_classes", "logits", logits);
  check_dtype("argmax_classes", "logits", logits, DType::Float32);
  XMKD_CHECK(logits.ndim() == 2 || logits.ndim() == 4, "argmax_classes: logits must be (N, C) or (N, C, H, W), got ",
             shape_str(logits.shape()));
  const int64_t N = logits.dim(0), C = logits.dim(1), plane = logits.ndim() == 4 ? logits.dim(2) * logits.dim(3) : 1;
  XMKD_CHECK(C > 0, "argmax_classes: logits need at least one class, got ", shape_str(logits.shape()));
  const Tensor host = logits.to(Device::CPU);
  Shape out_shape = {N};
  if (logits.ndim() == 4) out_shape = {N, logits.dim(2), logits.dim(3)};
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  const float* x = host.data<float>();
  int64_t* y = out.data<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < plane; ++i) {
      const float* v = x + n * C * plane + i;
      int64_t best = 0;
      for (int64_t c = 1; c < C; ++c) {
        const float a = v[c * plane], b = v[best * plane];
        if (std::isnan(b)) break;
        if (a > b || std::isnan(a)) best = c;
      }
      y[n * plane + i] = best;
    }
  return out.to(logits.device());
}

}  // namespace xmkd::data
