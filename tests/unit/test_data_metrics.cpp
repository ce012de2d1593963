// Metrics against scikit-learn (tools/torch_fixtures/metrics.py) and against hand computation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "data/dataset.h"
#include "data/metrics.h"
#include "engine/io/safetensors.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using data::ConfusionMatrix;

// scikit-learn's and xmkd's formulas are algebraically equal but round differently (scikit-learn
// forms precision and recall first, then 2PR/(P + R); its averages go through numpy): a few ulps
// of a double apart. 1e-12 is far above that and far below any real discrepancy (one count in
// these sets moves a metric by > 1e-3).
constexpr double kTol = 1e-12;

std::vector<double> doubles(const TensorMap& f, const std::string& key) {
  std::vector<double> out;
  const Tensor t = testing::fixture_tensor(f, key);
  if (!t.defined()) return out;
  for (int64_t bits : t.to_vector<int64_t>()) {
    double v;
    std::memcpy(&v, &bits, 8);
    out.push_back(v);
  }
  return out;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "] = " << got[i] << ", expected NaN";
      continue;
    }
    EXPECT_NEAR(got[i], expected[i], kTol) << what << "[" << i << "]";
  }
}

class SklearnMetrics : public ::testing::TestWithParam<const char*> {};

TEST_P(SklearnMetrics, MatchScikitLearn) {
  const std::string name = GetParam();
  const TensorMap f = io::load_safetensors(std::string(XMKD_FIXTURE_DIR) + "/metrics_" + name + ".safetensors");
  const int64_t C = testing::fixture_tensor(f, "num_classes").to_vector<int64_t>().at(0);
  const Tensor labels = testing::fixture_tensor(f, "labels"), predictions = testing::fixture_tensor(f, "predictions");

  ConfusionMatrix cm(C);
  cm.add(predictions, labels);
  const auto confusion = testing::fixture_tensor(f, "confusion").to_vector<int64_t>();
  for (int64_t t = 0; t < C; ++t)
    for (int64_t p = 0; p < C; ++p) EXPECT_EQ(cm.at(t, p), confusion[t * C + p]) << name << " at (" << t << ", " << p << ")";

  expect_close({cm.accuracy()}, doubles(f, "accuracy_bits"), name + " accuracy");
  expect_close({cm.pixel_accuracy()}, doubles(f, "accuracy_bits"), name + " pixel_accuracy");
  expect_close({cm.macro_f1()}, doubles(f, "macro_f1_bits"), name + " macro_f1");
  expect_close({cm.weighted_f1()}, doubles(f, "weighted_f1_bits"), name + " weighted_f1");
  expect_close(cm.per_class_f1(), doubles(f, "per_class_f1_bits"), name + " per_class_f1");
  expect_close(cm.per_class_iou(), doubles(f, "per_class_iou_bits"), name + " per_class_iou");
  expect_close({cm.mean_iou()}, doubles(f, "mean_iou_bits"), name + " mean_iou");

  // Accumulating the same data in two halves, or element by element, changes nothing.
  ConfusionMatrix halves(C), single(C);
  const auto flat_labels = labels.to_vector<int64_t>(), flat_predictions = predictions.to_vector<int64_t>();
  const int64_t n = labels.numel(), half = n / 2;
  halves.add(Tensor::from_vector(std::vector<int64_t>(flat_predictions.begin(), flat_predictions.begin() + half), {half}),
             Tensor::from_vector(std::vector<int64_t>(flat_labels.begin(), flat_labels.begin() + half), {half}));
  halves.add(Tensor::from_vector(std::vector<int64_t>(flat_predictions.begin() + half, flat_predictions.end()), {n - half}),
             Tensor::from_vector(std::vector<int64_t>(flat_labels.begin() + half, flat_labels.end()), {n - half}));
  for (int64_t i = 0; i < n; ++i)
    if (flat_labels[i] != data::kIgnoreLabel) single.add(flat_labels[i], flat_predictions[i]);
  for (int64_t t = 0; t < C; ++t)
    for (int64_t p = 0; p < C; ++p) {
      EXPECT_EQ(halves.at(t, p), cm.at(t, p));
      EXPECT_EQ(single.at(t, p), cm.at(t, p));
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SklearnMetrics,
                         ::testing::Values("basic", "missing_prediction", "missing_label", "absent_classes", "imbalanced",
                                           "segmentation"));

// Labels 0 0 1 1 2 (255 ignored) against predictions 0 1 1 1 0 (2), four classes:
// IoU_0 = 1/(1+1+1), IoU_1 = 2/(2+1+0), IoU_2 = 0/(0+0+1), IoU_3 = 0/0 -> NaN; mIoU over the
// three non-empty unions = 1/3. F1: 2/4, 4/5, 0, 0 -> macro 0.325; supports 2, 2, 1, 0 ->
// weighted (1 + 1.6)/5 = 0.52. Accuracy 3/5.
TEST(ConfusionMatrix, HandComputedSegmentationCase) {
  ConfusionMatrix cm(4);
  cm.add(Tensor::from_vector<int64_t>({0, 1, 1, 1, 0, 2}, {1, 2, 3}), Tensor::from_vector<int64_t>({0, 0, 1, 1, 2, 255}, {1, 2, 3}));
  EXPECT_EQ(cm.total(), 5);
  const auto iou = cm.per_class_iou();
  EXPECT_DOUBLE_EQ(iou[0], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 3.0);
  EXPECT_EQ(iou[2], 0.0);
  EXPECT_TRUE(std::isnan(iou[3]));
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 0.6);
  EXPECT_DOUBLE_EQ(cm.macro_f1(), 0.325);
  EXPECT_DOUBLE_EQ(cm.weighted_f1(), 0.52);
}

TEST(ConfusionMatrix, EmptyMatrixHasNoAccuracyOrMeanIou) {
  ConfusionMatrix cm(3);
  EXPECT_TRUE(std::isnan(cm.accuracy()));
  EXPECT_TRUE(std::isnan(cm.mean_iou()));
  EXPECT_EQ(cm.macro_f1(), 0.0);
  EXPECT_EQ(cm.weighted_f1(), 0.0);
}

TEST(ConfusionMatrix, BadInputsAreErrorsAndLeaveTheCountsUnchanged) {
  ConfusionMatrix cm(3);
  cm.add(1, 1);
  testing::expect_error_naming([&] { cm.add(Tensor::from_vector<int64_t>({0, 1}, {2}), Tensor::from_vector<int64_t>({0, 3}, {2})); },
                               "ConfusionMatrix::add", "label 3");
  testing::expect_error_naming([&] { cm.add(Tensor::from_vector<int64_t>({0, -1}, {2}), Tensor::from_vector<int64_t>({0, 1}, {2})); },
                               "ConfusionMatrix::add", "prediction -1");
  testing::expect_error_naming([&] { cm.add(Tensor::from_vector<int64_t>({0}, {1}), Tensor::from_vector<int64_t>({0, 1}, {2})); },
                               "ConfusionMatrix::add", "(2,)");
  testing::expect_error_naming([&] { cm.add(Tensor::zeros({2}), Tensor::from_vector<int64_t>({0, 1}, {2})); },
                               "ConfusionMatrix::add", "int64");
  testing::expect_error_naming([&] { cm.add(5, 0); }, "ConfusionMatrix::add", "label 5");
  EXPECT_EQ(cm.total(), 1) << "a rejected batch adds nothing";
  // With another ignore index, 255 is an error and the chosen index is skipped.
  ConfusionMatrix other(3);
  other.add(Tensor::from_vector<int64_t>({0, 2}, {2}), Tensor::from_vector<int64_t>({-1, 2}, {2}), -1);
  EXPECT_EQ(other.total(), 1);
  testing::expect_error_naming([&] { other.add(Tensor::from_vector<int64_t>({0}, {1}), Tensor::from_vector<int64_t>({255}, {1}), -1); },
                               "ConfusionMatrix::add", "label 255");
  testing::expect_error_naming([&] { ConfusionMatrix(0); }, "ConfusionMatrix", "num_classes");
}

TEST(ArgmaxClasses, PicksTheFirstMaximumOverDimOne) {
  // (N=3, C=4); row 1 has a tie between classes 1 and 3 (the first wins); row 2 has a NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor logits = Tensor::from_vector<float>({0.1f, 2.0f, -1.0f, 0.5f, 3.0f, 7.0f, 1.0f, 7.0f, 1.0f, nan, 9.0f, 2.0f}, {3, 4});
  const Tensor classes = data::argmax_classes(logits);
  EXPECT_EQ(classes.dtype(), DType::Int64);
  EXPECT_EQ(classes.shape(), (Shape{3}));
  EXPECT_EQ(classes.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
}

TEST(ArgmaxClasses, PerPixelOverTheChannelDimension) {
  // (N=2, C=3, H=2, W=2): independently computed per pixel.
  Generator gen(3);
  const Tensor logits = rand_normal({2, 3, 2, 2}, 0.0f, 1.0f, gen);
  const Tensor classes = data::argmax_classes(logits);
  ASSERT_EQ(classes.shape(), (Shape{2, 2, 2}));
  const auto x = logits.to_vector<float>();
  const auto y = classes.to_vector<int64_t>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t p = 0; p < 4; ++p) {
      int64_t best = 0;
      for (int64_t c = 1; c < 3; ++c)
        if (x[(n * 3 + c) * 4 + p] > x[(n * 3 + best) * 4 + p]) best = c;
      EXPECT_EQ(y[n * 4 + p], best) << n << ", " << p;
    }
  testing::expect_error_naming([&] { data::argmax_classes(Tensor::zeros({2, 3, 4})); }, "argmax_classes", "(2, 3, 4)");
  testing::expect_error_naming([&] { data::argmax_classes(Tensor::from_vector<int64_t>({1}, {1, 1})); }, "argmax_classes",
                               "float32");
}

}  // namespace
}  // namespace xmkd
