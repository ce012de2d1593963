// softmax, log_softmax, cross_entropy, kl_div_logits, kl_div_with_temperature, mse_loss:
// forward against double-precision references written here, finite-difference gradients on every
// input, numerical stability at ±1e4 and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::contains;
using testing::error_message;
using testing::requiring_grad;

using testing::expect_close;
using testing::expect_gradients_match;
using testing::random_labels;
using testing::random_normal;

// A tensor (N, C, d2, ...) as (outer, C, inner); element (o, c, i) at (o*C + c)*inner + i.
struct Dims {
  int64_t outer, C, inner;
  explicit Dims(const Shape& s) : outer(s[0]), C(s[1]), inner(1) {
    for (size_t k = 2; k < s.size(); ++k) inner *= s[k];
  }
  int64_t at(int64_t o, int64_t c, int64_t i) const { return (o * C + c) * inner + i; }
};

// log_softmax over dim 1 in double: x - max - log Σ exp(x - max).
std::vector<double> reference_log_softmax(const Tensor& x, double temperature = 1.0) {
  const Dims d(x.shape());
  std::vector<float> v = x.to_vector<float>();
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) {
      double m = -INFINITY;
      for (int64_t c = 0; c < d.C; ++c) m = std::max(m, v[d.at(o, c, i)] / temperature);
      double sum = 0.0;
      for (int64_t c = 0; c < d.C; ++c) sum += std::exp(v[d.at(o, c, i)] / temperature - m);
      for (int64_t c = 0; c < d.C; ++c) out[d.at(o, c, i)] = v[d.at(o, c, i)] / temperature - m - std::log(sum);
    }
  return out;
}

Tensor as_float_tensor(const std::vector<double>& values, const Shape& shape) {
  return Tensor::from_vector(std::vector<float>(values.begin(), values.end()), shape);
}

// Σ_p w_y (-log_softmax[y]) / Σ_p w_y over non-ignored positions, in double.
double reference_cross_entropy(const Tensor& logits, const Tensor& labels, int64_t ignore_index,
                               const std::vector<float>& weights = {}) {
  const Dims d(logits.shape());
  std::vector<double> lsm = reference_log_softmax(logits);
  std::vector<int64_t> y = labels.dtype() == DType::Int64
                               ? labels.to_vector<int64_t>()
                               : [&] {
                                   std::vector<int32_t> v = labels.to_vector<int32_t>();
                                   return std::vector<int64_t>(v.begin(), v.end());
                                 }();
  double num = 0.0, den = 0.0;
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) {
      int64_t label = y[o * d.inner + i];
      if (label == ignore_index) continue;
      double w = weights.empty() ? 1.0 : weights[label];
      num -= w * lsm[d.at(o, label, i)];
      den += w;
    }
  return num / den;
}

// T² · mean over positions of Σ_c p (log p - log q), p = softmax(t/T), q = softmax(s/T), in double.
double reference_kl(const Tensor& s, const Tensor& t, double temperature) {
  const Dims d(s.shape());
  std::vector<double> log_q = reference_log_softmax(s, temperature);
  std::vector<double> log_p = reference_log_softmax(t, temperature);
  double total = 0.0;
  for (size_t j = 0; j < log_p.size(); ++j) total += std::exp(log_p[j]) * (log_p[j] - log_q[j]);
  return temperature * temperature * total / static_cast<double>(d.outer * d.inner);
}

Tensor to_int32(const Tensor& labels64) {
  std::vector<int64_t> v = labels64.to_vector<int64_t>();
  return Tensor::from_vector(std::vector<int32_t>(v.begin(), v.end()), labels64.shape());
}

// ---- softmax / log_softmax --------------------------------------------------------------------

TEST(Softmax, ForwardMatchesDoubleReference) {
  Generator gen(1);
  for (const Shape& shape : {Shape{4, 7}, Shape{2, 5, 3, 4}}) {
    Tensor x = random_normal(shape, gen, 3.0f);
    std::vector<double> lsm = reference_log_softmax(x);
    std::vector<double> sm(lsm.size());
    for (size_t j = 0; j < lsm.size(); ++j) sm[j] = std::exp(lsm[j]);
    // Probabilities <= 1 computed in float: a few ulps of 1.
    expect_close(softmax(x), as_float_tensor(sm, shape), 1e-7, 1e-6, "softmax " + shape_str(shape));
    // log-probabilities of order 1-10: float rounding of (x - max) and of log Σ.
    expect_close(log_softmax(x), as_float_tensor(lsm, shape), 1e-6, 1e-6, "log_softmax " + shape_str(shape));
  }
}

TEST(Softmax, GradientsMatchFiniteDifferences) {
  Generator gen(2);
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 4, 2, 3}}) {
    Tensor x = requiring_grad(random_normal(shape, gen, 2.0f));
    expect_gradients_match([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {x});
    expect_gradients_match([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {x});
  }
}

TEST(Softmax, HugeLogitsStayFinite) {
  Tensor x = Tensor::from_vector<float>({1e4f, -1e4f, 0.0f, -1e4f, 1e4f, 1e4f}, {2, 3});
  EXPECT_EQ(softmax(x).to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 0.5f, 0.5f}));
  std::vector<float> lsm = log_softmax(x).to_vector<float>();
  std::vector<double> expected = {0.0, -2e4, -1e4, -2e4 - std::log(2.0), -std::log(2.0), -std::log(2.0)};
  for (size_t j = 0; j < lsm.size(); ++j) EXPECT_NEAR(lsm[j], expected[j], 1e-6 * std::abs(expected[j]) + 1e-6) << j;
}

TEST(Softmax, RejectsBadArguments) {
  EXPECT_TRUE(contains(error_message([] { softmax(Tensor::zeros({5})); }), "softmax"));
  EXPECT_TRUE(contains(error_message([] { log_softmax(Tensor::zeros({2, 3}, DType::Int64)); }), "log_softmax"));
}

// ---- cross_entropy ----------------------------------------------------------------------------

TEST(CrossEntropy, ClassLogitsMatchDoubleReference) {
  Generator gen(3);
  Tensor logits = random_normal({6, 5}, gen, 2.0f);
  Tensor labels = random_labels({6}, 5, gen, /*ignored=*/2);
  std::vector<float> w = {0.5f, 2.0f, 1.0f, 0.25f, 3.0f};
  CrossEntropyOptions weighted;
  weighted.class_weights = Tensor::from_vector(w, {5});
  // Losses of order 1 summed in double, rounded once to float.
  const double tol = 1e-6;
  EXPECT_NEAR(cross_entropy(logits, labels).item(), reference_cross_entropy(logits, labels, -100), tol);
  EXPECT_NEAR(cross_entropy(logits, to_int32(labels)).item(), reference_cross_entropy(logits, labels, -100), tol);
  EXPECT_NEAR(cross_entropy(logits, labels, weighted).item(), reference_cross_entropy(logits, labels, -100, w), tol);
}

TEST(CrossEntropy, PerPixelLogitsMatchDoubleReference) {
  Generator gen(4);
  Tensor logits = random_normal({2, 4, 3, 5}, gen, 2.0f);
  Tensor labels = random_labels({2, 3, 5}, 4, gen, /*ignored=*/6, /*ignore_index=*/255);
  CrossEntropyOptions options;
  options.ignore_index = 255;
  EXPECT_NEAR(cross_entropy(logits, labels, options).item(), reference_cross_entropy(logits, labels, 255), 1e-6);
  EXPECT_NEAR(cross_entropy(logits, to_int32(labels), options).item(), reference_cross_entropy(logits, labels, 255),
              1e-6);
}

TEST(CrossEntropy, HandValue) {
  // -log softmax([0, ln 3])[1] = log(1 + 3) - ln 3 = log(4/3)
  Tensor logits = Tensor::from_vector<float>({0.0f, std::log(3.0f)}, {1, 2});
  Tensor labels = Tensor::from_vector<int64_t>({1}, {1});
  EXPECT_NEAR(cross_entropy(logits, labels).item(), std::log(4.0 / 3.0), 1e-7);
}

TEST(CrossEntropy, ClassGradientsWithIgnoredPositionsAndWeights) {
  Generator gen(5);
  Tensor logits = requiring_grad(random_normal({5, 4}, gen, 2.0f));
  Tensor labels = random_labels({5}, 4, gen, /*ignored=*/2);
  CrossEntropyOptions weighted;
  weighted.class_weights = Tensor::from_vector<float>({0.5f, 2.0f, 1.0f, 1.5f}, {4});
  for (const Tensor& l : {labels, to_int32(labels)}) {
    expect_gradients_match([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], l); }, {logits});
    expect_gradients_match([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], l, weighted); }, {logits});
  }
  // Ignored rows get exactly zero gradient.
  logits.zero_grad();
  cross_entropy(logits, labels, weighted).backward();
  std::vector<int64_t> y = labels.to_vector<int64_t>();
  std::vector<float> g = logits.grad().to_vector<float>();
  int ignored_rows = 0;
  for (int64_t n = 0; n < 5; ++n) {
    if (y[n] != -100) continue;
    ++ignored_rows;
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(g[n * 4 + c], 0.0f);
  }
  EXPECT_GT(ignored_rows, 0) << "the test needs an ignored row";
}

TEST(CrossEntropy, PerPixelGradientsWithIgnoreIndex255) {
  Generator gen(6);
  Tensor logits = requiring_grad(random_normal({2, 3, 2, 3}, gen, 2.0f));
  Tensor labels = random_labels({2, 2, 3}, 3, gen, /*ignored=*/3, /*ignore_index=*/255);
  CrossEntropyOptions options;
  options.ignore_index = 255;
  options.class_weights = Tensor::from_vector<float>({1.0f, 0.3f, 2.0f}, {3});
  for (const Tensor& l : {labels, to_int32(labels)})
    expect_gradients_match([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], l, options); }, {logits});
}

TEST(CrossEntropy, EveryPositionIgnoredGivesNanAndZeroGradient) {
  Tensor logits = requiring_grad(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor labels = Tensor::from_vector<int64_t>({-100, -100}, {2});
  Tensor loss = cross_entropy(logits, labels);
  EXPECT_TRUE(std::isnan(loss.item()));
  loss.backward();
  EXPECT_EQ(logits.grad().to_vector<float>(), std::vector<float>(6, 0.0f));
}

TEST(CrossEntropy, HugeLogitsStayFinite) {
  Tensor logits = requiring_grad(Tensor::from_vector<float>({1e4f, -1e4f, -1e4f, 1e4f}, {2, 2}));
  Tensor labels = Tensor::from_vector<int64_t>({1, 1}, {2});
  Tensor loss = cross_entropy(logits, labels);
  // Row 0: -log softmax = 2e4; row 1: 0. Mean 1e4.
  EXPECT_FLOAT_EQ(loss.item(), 1e4f);
  loss.backward();
  EXPECT_EQ(logits.grad().to_vector<float>(), (std::vector<float>{0.5f, -0.5f, 0.0f, 0.0f}));
}

TEST(CrossEntropy, LabelOutOfRangeNamesValuePositionAndClasses) {
  Tensor logits = Tensor::zeros({2, 3, 2, 2});
  Tensor labels = Tensor::from_vector<int32_t>({0, 1, 2, 255, 0, 7, 1, 1}, {2, 2, 2});
  std::string msg = error_message([&] { cross_entropy(logits, labels); });
  EXPECT_TRUE(contains(msg, "cross_entropy")) << msg;
  EXPECT_TRUE(contains(msg, "label 255")) << msg;   // the first bad one, at (0, 1, 1)
  EXPECT_TRUE(contains(msg, "(0, 1, 1)")) << msg;
  EXPECT_TRUE(contains(msg, "[0, 3)")) << msg;
  // With 255 ignored, the next bad label is reported.
  CrossEntropyOptions options;
  options.ignore_index = 255;
  msg = error_message([&] { cross_entropy(logits, labels, options); });
  EXPECT_TRUE(contains(msg, "label 7") && contains(msg, "(1, 0, 1)")) << msg;
  msg = error_message([] {
    cross_entropy(Tensor::zeros({2, 3}), Tensor::from_vector<int64_t>({-1, 0}, {2}));
  });
  EXPECT_TRUE(contains(msg, "label -1") && contains(msg, "(0,)")) << msg;
}

TEST(CrossEntropy, RejectsBadLabelsAndWeights) {
  Tensor logits = Tensor::zeros({4, 3});
  std::string msg = error_message([&] { cross_entropy(logits, Tensor::zeros({4})); });
  EXPECT_TRUE(contains(msg, "cross_entropy") && contains(msg, "int32 or int64") && contains(msg, "float32")) << msg;
  msg = error_message([&] { cross_entropy(logits, Tensor::zeros({4, 1}, DType::Int64)); });
  EXPECT_TRUE(contains(msg, "cross_entropy") && contains(msg, "(4, 1)") && contains(msg, "(4,)")) << msg;
  msg = error_message([] { cross_entropy(Tensor::zeros({2, 3, 4, 5}), Tensor::zeros({2, 4, 4}, DType::Int64)); });
  EXPECT_TRUE(contains(msg, "(2, 4, 4)") && contains(msg, "(2, 4, 5)")) << msg;
  CrossEntropyOptions options;
  options.class_weights = Tensor::ones({4});
  msg = error_message([&] { cross_entropy(logits, Tensor::zeros({4}, DType::Int64), options); });
  EXPECT_TRUE(contains(msg, "cross_entropy") && contains(msg, "class_weights") && contains(msg, "(3,)") &&
              contains(msg, "(4,)"))
      << msg;
  msg = error_message([] { cross_entropy(Tensor::zeros({4}), Tensor::zeros({4}, DType::Int64)); });
  EXPECT_TRUE(contains(msg, "cross_entropy") && contains(msg, "logits")) << msg;
}

// ---- kl_div_logits / kl_div_with_temperature --------------------------------------------------

TEST(KlDiv, ForwardMatchesDoubleReference) {
  Generator gen(7);
  for (const Shape& shape : {Shape{4, 6}, Shape{2, 3, 2, 4}}) {
    Tensor s = random_normal(shape, gen, 2.0f), t = random_normal(shape, gen, 2.0f);
    // KL of order 0.1-1, accumulated in double: float rounding of the log-probabilities dominates.
    EXPECT_NEAR(kl_div_logits(s, t).item(), reference_kl(s, t, 1.0), 2e-6) << shape_str(shape);
    EXPECT_NEAR(kl_div_with_temperature(s, t, 4.0f).item(), reference_kl(s, t, 4.0), 2e-6) << shape_str(shape);
    EXPECT_NEAR(kl_div_logits(s, s).item(), 0.0, 1e-7);
  }
}

TEST(KlDiv, GradientsToBothInputs) {
  Generator gen(8);
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 3, 2, 2}}) {
    Tensor s = requiring_grad(random_normal(shape, gen, 2.0f));
    Tensor t = requiring_grad(random_normal(shape, gen, 2.0f));
    expect_gradients_match([](const std::vector<Tensor>& in) { return kl_div_logits(in[0], in[1]); }, {s, t});
    expect_gradients_match(
        [](const std::vector<Tensor>& in) { return kl_div_with_temperature(in[0], in[1], 3.0f); }, {s, t});
  }
}

TEST(KlDiv, OnlyInputsThatRequireGradReceiveOne) {
  Generator gen(9);
  Tensor s = requiring_grad(random_normal({2, 4}, gen));
  Tensor t = random_normal({2, 4}, gen);
  kl_div_logits(s, t).backward();
  EXPECT_TRUE(s.grad().defined());
  EXPECT_FALSE(t.grad().defined());
}

TEST(KlDiv, HugeLogitsStayFinite) {
  Tensor s = requiring_grad(Tensor::from_vector<float>({1e4f, -1e4f, 0.0f, 0.0f}, {2, 2}));
  Tensor t = requiring_grad(Tensor::from_vector<float>({-1e4f, 1e4f, 1e4f, -1e4f}, {2, 2}));
  Tensor loss = kl_div_logits(s, t);
  // Row 0: p = (0, 1), log q_1 = -2e4 -> KL 2e4. Row 1: p = (1, 0), q = (½, ½) -> KL ln 2.
  EXPECT_NEAR(loss.item(), (2e4 + std::log(2.0)) / 2, 1e-2);
  loss.backward();
  for (float v : s.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  for (float v : t.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
}

TEST(KlDiv, RejectsBadArguments) {
  std::string msg = error_message([] { kl_div_logits(Tensor::zeros({2, 3}), Tensor::zeros({2, 4})); });
  EXPECT_TRUE(contains(msg, "kl_div_logits") && contains(msg, "(2, 3)") && contains(msg, "(2, 4)")) << msg;
  msg = error_message([] { kl_div_with_temperature(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}), 0.0f); });
  EXPECT_TRUE(contains(msg, "kl_div_with_temperature") && contains(msg, "temperature")) << msg;
  msg = error_message([] { kl_div_logits(Tensor::zeros({3}), Tensor::zeros({3})); });
  EXPECT_TRUE(contains(msg, "kl_div_logits")) << msg;
}

// ---- inputs large enough for the OpenMP paths and the chunked loss reductions ----------------

TEST(SoftmaxLoss, LargeInputsMatchDoubleReference) {
  Generator gen(12);
  const Shape shape{2, 8, 48, 40};   // 30720 elements, 3840 positions
  Tensor x = random_normal(shape, gen, 3.0f), t = random_normal(shape, gen, 3.0f);
  Tensor labels = random_labels({2, 48, 40}, 8, gen, /*ignored=*/500, /*ignore_index=*/255);
  std::vector<double> lsm = reference_log_softmax(x);
  expect_close(log_softmax(x), as_float_tensor(lsm, shape), 1e-6, 1e-6, "log_softmax large");
  CrossEntropyOptions options;
  options.ignore_index = 255;
  EXPECT_NEAR(cross_entropy(x, labels, options).item(), reference_cross_entropy(x, labels, 255), 1e-6);
  EXPECT_NEAR(kl_div_with_temperature(x, t, 2.0f).item(), reference_kl(x, t, 2.0), 2e-6);
  Tensor a = random_normal({256, 300}, gen), b = random_normal({256, 300}, gen);
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  double sum = 0.0;
  for (size_t i = 0; i < av.size(); ++i) sum += (static_cast<double>(av[i]) - bv[i]) * (av[i] - bv[i]);
  EXPECT_NEAR(mse_loss(a, b).item(), sum / av.size(), 1e-6);
}

// ---- mse_loss ---------------------------------------------------------------------------------

TEST(MseLoss, ForwardMatchesDoubleReference) {
  Generator gen(10);
  Tensor a = random_normal({3, 4, 5}, gen), b = random_normal({3, 4, 5}, gen);
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  double sum = 0.0;
  for (size_t i = 0; i < av.size(); ++i) sum += (static_cast<double>(av[i]) - bv[i]) * (av[i] - bv[i]);
  EXPECT_NEAR(mse_loss(a, b).item(), sum / av.size(), 1e-6);
  EXPECT_EQ(mse_loss(Tensor::from_vector<float>({1, 2}, {2}), Tensor::from_vector<float>({4, -2}, {2})).item(), 12.5f);
}

TEST(MseLoss, GradientsToBothInputs) {
  Generator gen(11);
  Tensor a = requiring_grad(random_normal({2, 3, 2}, gen)), b = requiring_grad(random_normal({2, 3, 2}, gen));
  expect_gradients_match([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {a, b});
}

TEST(MseLoss, RejectsShapeMismatch) {
  std::string msg = error_message([] { mse_loss(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); });
  EXPECT_TRUE(contains(msg, "mse_loss") && contains(msg, "(2, 3)") && contains(msg, "(3, 2)")) << msg;
}

}  // namespace
}  // namespace xmkd
