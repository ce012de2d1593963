// The distillation losses (losses/distill.h) and their ops (losses/ops.h).
//
// PyTorch parity: tests/fixtures/distill_{class,pixel}.safetensors (tools/torch_fixtures/distill.py,
// PyTorch 1.13, float32, CPU), every kind with and without LSKD, classification (6,5) and per
// pixel (2,5,3,4) with 5 ignored positions: the total loss, its parts, d total / d student logits,
// and for CTKD the temperature and d total / d θ (reversed by the GRL).
// Tolerance atol 1e-5 + rtol 1e-5: both sides compute in float32; the reference takes DKD's
// binary split as log of summed probabilities where xmkd uses log-sum-exp of logits, and MLKD sums
// 5 temperatures × 3 terms, each a few float32 roundings (6e-8 relative) apart; losses and
// gradients are of order 1e-3..10, so the difference stays far below 1e-5 relative, and atol 1e-5
// covers gradient elements that cancel to near zero. Measured (classification): the largest difference is 2e-6 on a
// loss of 4.8 (4e-7 relative), 1.2e-7 on gradients, 3e-8 on CTKD's d/dθ (a small cancelling sum).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/io/config.h"
#include "engine/ops.h"
#include "losses/distill.h"
#include "losses/ops.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using losses::Distiller;
using losses::DistillOptions;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::fixture_tensor;
using testing::random_normal;
using testing::requiring_grad;

constexpr double kAtol = 1e-5;
constexpr double kRtol = 1e-5;
const char* const kKinds[] = {"kdv1", "kdv2", "dkd", "ctkd", "mlkd"};

// epoch 2, step 1 of 4, of 10 epochs: fraction 0.225 (the fixtures' progress).
TrainProgress fixture_progress() {
  TrainProgress p;
  p.epoch = 2;
  p.epochs = 10;
  p.step = 1;
  p.steps_per_epoch = 4;
  return p;
}

DistillOptions options_for(const std::string& kind, bool lskd) {
  auto config = io::Config::from_json({{"kind", kind}, {"lskd", lskd}});
  return losses::parse_distill_options(config.root());
}

Tensor part_of(const LossTerms& terms, const std::string& name) {
  for (const auto& [key, value] : terms.parts)
    if (key == name) return value;
  ADD_FAILURE() << "no part '" << name << "'";
  return Tensor::scalar(NAN);
}

// ---- ops: finite-difference gradient checks -----------------------------------------------

TEST(DistillOps, ZscoreGradients) {
  Generator gen(11);
  for (const Shape& shape : {Shape{4, 6}, Shape{2, 5, 3, 2}}) {
    expect_gradients_match([](const std::vector<Tensor>& x) { return losses::zscore(x[0]); },
                           {requiring_grad(random_normal(shape, gen, 2.0f))}, {1e-3, 1e-3, 1e-3});
  }
}

TEST(DistillOps, ZscoreIsUnbiasedStandardisation) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 6}, {1, 4});
  // mean 3, unbiased variance (4 + 1 + 0 + 9) / 3 = 14/3.
  const double sd = std::sqrt(14.0 / 3.0);
  std::vector<float> y = losses::zscore(x).to_vector<float>();
  const double expected[] = {-2 / sd, -1 / sd, 0, 3 / sd};
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(y[c], expected[c], 1e-6);
}

TEST(DistillOps, ToRowsGradientsAndLayout) {
  Generator gen(12);
  Tensor x = random_normal({2, 3, 2, 2}, gen);
  std::vector<float> xv = x.to_vector<float>(), rv = losses::to_rows(x).to_vector<float>();
  // row (n, h, w) = n·4 + h·2 + w holds x[n, :, h, w].
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 4; ++i) EXPECT_EQ(rv[(n * 4 + i) * 3 + c], xv[(n * 3 + c) * 4 + i]);
  expect_gradients_match([](const std::vector<Tensor>& v) { return losses::to_rows(v[0]); }, {requiring_grad(x)});
}

TEST(DistillOps, SelectRowsGradientsWithRepeats) {
  Generator gen(13);
  Tensor index = Tensor::from_vector(std::vector<int64_t>{3, 0, 3, 1}, {4});
  expect_gradients_match([&](const std::vector<Tensor>& v) { return losses::select_rows(v[0], index); },
                         {requiring_grad(random_normal({5, 3}, gen))});
  testing::expect_error_naming(
      [&] { losses::select_rows(random_normal({2, 3}, gen), index); }, "select_rows", "outside [0, 2)");
}

TEST(DistillOps, LabelOpsGradients) {
  Generator gen(14);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{2, 0, 4}, {3});
  expect_gradients_match([&](const std::vector<Tensor>& v) { return losses::add_at_labels(v[0], labels, -3.0f); },
                         {requiring_grad(random_normal({3, 5}, gen))});
  expect_gradients_match([&](const std::vector<Tensor>& v) { return losses::gather_labels(v[0], labels); },
                         {requiring_grad(random_normal({3, 5}, gen))});
  expect_gradients_match([](const std::vector<Tensor>& v) { return losses::logsumexp_rows(v[0]); },
                         {requiring_grad(random_normal({3, 5}, gen, 2.0f))}, {1e-3, 1e-3, 1e-3});
  testing::expect_error_naming(
      [&] { losses::gather_labels(random_normal({3, 2}, gen), labels); }, "gather_labels", "outside [0, 2)");
}

// A CheckedIndex is checked once, on the host, when it is made; the row ops then give what their
// Tensor forms give, and refuse an index checked against a larger bound than x has.
TEST(DistillOps, CheckedIndexIsCheckedOnceAndGivesTheSameRows) {
  Generator gen(71);
  const Tensor x = random_normal({5, 4}, gen);
  const std::vector<int64_t> labels = {1, 0, 3, 3, 2};
  const losses::CheckedIndex checked(labels, 4, Device::CPU, "test: label");
  const Tensor plain = Tensor::from_vector(labels, {5});
  EXPECT_EQ(losses::gather_labels(x, checked).to_vector<float>(), losses::gather_labels(x, plain).to_vector<float>());
  EXPECT_EQ(losses::add_at_labels(x, checked, -2.0f).to_vector<float>(),
            losses::add_at_labels(x, plain, -2.0f).to_vector<float>());
  const losses::CheckedIndex rows({4, 0, 4}, 5, Device::CPU, "test: row");
  EXPECT_EQ(losses::select_rows(x, rows).to_vector<float>(),
            losses::select_rows(x, Tensor::from_vector(std::vector<int64_t>{4, 0, 4}, {3})).to_vector<float>());

  std::string message = testing::error_message([] { losses::CheckedIndex({0, 4}, 4, Device::CPU, "test: label"); });
  EXPECT_TRUE(testing::contains(message, "test: label[1] = 4 is outside [0, 4)")) << message;
  message = testing::error_message([&] { losses::gather_labels(random_normal({5, 3}, gen), checked); });
  EXPECT_TRUE(testing::contains(message, "checked against [0, 4)")) << message;
  EXPECT_TRUE(testing::contains(message, "has only 3")) << message;
}

TEST(DistillOps, SigmoidAndReciprocalGradients) {
  Generator gen(15);
  expect_gradients_match([](const std::vector<Tensor>& v) { return losses::sigmoid(v[0]); },
                         {requiring_grad(random_normal({7}, gen, 2.0f))}, {1e-3, 1e-3, 1e-3});
  expect_gradients_match([](const std::vector<Tensor>& v) { return losses::reciprocal(v[0]); },
                         {requiring_grad(testing::random_away_from_zero({6}, 0.5f, 2.0f, gen))}, {1e-3, 1e-3, 1e-3});
}

TEST(DistillOps, GramRowsMseBothFormsAgreeAndGradcheck) {
  Generator gen(16);
  Tensor a = softmax(random_normal({7, 4}, gen, 2.0f)), b = softmax(random_normal({7, 4}, gen, 2.0f));
  Tensor direct = losses::gram_rows_mse(a, b, 1024), via_classes = losses::gram_rows_mse(a, b, 0);
  expect_close(via_classes, direct, 1e-7, 1e-5, "gram_rows_mse: C×C form vs R×R form");
  for (int64_t direct_max_rows : {int64_t{1024}, int64_t{0}}) {
    expect_gradients_match(
        [=](const std::vector<Tensor>& v) { return losses::gram_rows_mse(v[0], v[1], direct_max_rows); },
        {requiring_grad(a.clone()), requiring_grad(b.clone())}, {1e-3, 1e-3, 1e-3});
  }
}

// ---- the losses against PyTorch ------------------------------------------------------------

void expect_fixture_parity(const std::string& family) {
  TensorMap f = testing::load_fixture("distill_" + family);
  for (const char* kind : kKinds) {
    for (bool lskd : {false, true}) {
      const std::string tag = std::string(kind) + (lskd ? "_lskd" : "");
      const std::string what = family + " " + tag;
      Distiller distiller(options_for(kind, lskd));
      Tensor student = requiring_grad(fixture_tensor(f, "student").clone());
      Tensor teacher = requiring_grad(fixture_tensor(f, "teacher").clone());
      LossTerms terms = distiller.loss(student, teacher, fixture_tensor(f, "labels"), fixture_progress());
      expect_close(terms.total, fixture_tensor(f, "loss_" + tag), kAtol, kRtol, what + ": loss");
      expect_close(part_of(terms, "ce"), fixture_tensor(f, "ce_" + tag), kAtol, kRtol, what + ": ce");
      expect_close(part_of(terms, "kd"), fixture_tensor(f, "kd_" + tag), kAtol, kRtol, what + ": kd");
      terms.total.backward();
      expect_close(student.grad(), fixture_tensor(f, "grad_student_" + tag), kAtol, kRtol, what + ": d/d student");
      EXPECT_FALSE(teacher.grad().defined()) << what << ": the teacher got a gradient";
      if (std::string(kind) == "ctkd") {
        expect_close(part_of(terms, "temperature"), fixture_tensor(f, "temperature_" + tag), kAtol, kRtol,
                     what + ": temperature");
        expect_close(distiller.parameters().at(0).grad(), fixture_tensor(f, "grad_theta_" + tag), kAtol, kRtol,
                     what + ": d/d θ");
      }
    }
  }
}

TEST(Distill, MatchesPyTorchClassification) { expect_fixture_parity("class"); }
TEST(Distill, MatchesPyTorchPerPixel) { expect_fixture_parity("pixel"); }

TEST(Distill, CtkdStartsAtTheConfiguredTemperatureAndOwnsOneParameter) {
  Distiller distiller(options_for("ctkd", false));
  ASSERT_EQ(distiller.parameters().size(), 1u);
  Generator gen(3);
  LossTerms terms = distiller.loss(random_normal({4, 5}, gen), random_normal({4, 5}, gen),
                                   testing::random_labels({4}, 5, gen), TrainProgress{});
  EXPECT_NEAR(part_of(terms, "temperature").item(), 4.0, 1e-5);
  // λ = lambda_min = 0 at the first step: the reversed gradient reaching θ is exactly zero.
  terms.total.backward();
  EXPECT_EQ(distiller.parameters().at(0).grad().item(), 0.0f);
  EXPECT_EQ(Distiller(options_for("kdv2", false)).parameters().size(), 0u);
}

TEST(Distill, DkdWeightRampsWithEpochsIncludingSteps) {
  Generator gen(4);
  Tensor s = random_normal({5, 6}, gen, 2.0f), t = random_normal({5, 6}, gen, 2.0f);
  Tensor labels = testing::random_labels({5}, 6, gen);
  Distiller distiller(options_for("dkd", false));
  auto at = [&](int64_t epoch, int64_t step) {
    TrainProgress p;
    p.epoch = epoch;
    p.epochs = 40;
    p.step = step;
    p.steps_per_epoch = 8;
    LossTerms terms = distiller.loss(s, t, labels, p);
    const double raw = 1.0 * part_of(terms, "dkd_tckd").item() + 8.0 * part_of(terms, "dkd_nckd").item();
    return std::make_pair(static_cast<double>(part_of(terms, "kd").item()), raw);
  };
  for (auto [epoch, step, ramp] : {std::tuple{0, 0, 0.0}, std::tuple{0, 4, 0.5 / 20}, std::tuple{5, 2, 5.25 / 20},
                                   std::tuple{19, 7, 19.875 / 20}, std::tuple{20, 0, 1.0}, std::tuple{33, 3, 1.0}}) {
    auto [kd, raw] = at(epoch, step);
    EXPECT_GT(raw, 0.0);
    EXPECT_NEAR(kd, ramp * raw, 1e-6 * raw) << "epoch " << epoch << " step " << step;
  }
}

// Changing the logits at ignored pixels (student and teacher) changes neither the loss nor the
// gradient, and those pixels get a zero gradient.
TEST(Distill, IgnoredPixelsContributeNothing) {
  Generator gen(5);
  const Shape shape{2, 4, 3, 3};
  Tensor s = random_normal(shape, gen, 2.0f), t = random_normal(shape, gen, 2.0f);
  Tensor labels = testing::random_labels({2, 3, 3}, 4, gen, 6, 255);
  std::vector<int64_t> lv = labels.to_vector<int64_t>();
  Tensor s2 = s.clone(), t2 = t.clone();
  float* sp = s2.data<float>();
  float* tp = t2.data<float>();
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 4; ++c) {
      for (int64_t i = 0; i < 9; ++i) {
        if (lv[n * 9 + i] != 255) continue;
        sp[(n * 4 + c) * 9 + i] += 5.0f * static_cast<float>(c + 1);
        tp[(n * 4 + c) * 9 + i] -= 3.0f * static_cast<float>(c);
      }
    }
  }
  for (const char* kind : kKinds) {
    for (bool lskd : {false, true}) {
      const std::string what = std::string(kind) + (lskd ? " lskd" : "");
      Distiller distiller(options_for(kind, lskd));
      Tensor a = requiring_grad(s.clone()), b = requiring_grad(s2.clone());
      LossTerms la = distiller.loss(a, t, labels, fixture_progress());
      LossTerms lb = distiller.loss(b, t2, labels, fixture_progress());
      EXPECT_EQ(la.total.item(), lb.total.item()) << what;
      la.total.backward();
      lb.total.backward();
      std::vector<float> ga = a.grad().to_vector<float>(), gb = b.grad().to_vector<float>();
      for (size_t j = 0; j < ga.size(); ++j) {
        ASSERT_EQ(ga[j], gb[j]) << what << " element " << j;
        const size_t n = j / 36, i = j % 9;
        if (lv[n * 9 + i] == 255) {
          ASSERT_EQ(ga[j], 0.0f) << what << " element " << j;
        }
      }
    }
  }
}

TEST(Distill, ShapeMismatchIsAnError) {
  Generator gen(6);
  Distiller distiller(options_for("kdv2", false));
  testing::expect_error_naming(
      [&] {
        distiller.loss(random_normal({4, 5}, gen), random_normal({4, 6}, gen), testing::random_labels({4}, 5, gen),
                       TrainProgress{});
      },
      "Distiller", "(4, 6)");
}

// ---- parse_distill_options ----------------------------------------------------------------

TEST(DistillOptions, DefaultsPerKind) {
  DistillOptions kdv1 = options_for("kdv1", false), kdv2 = options_for("kdv2", true), dkd = options_for("dkd", false);
  EXPECT_EQ(kdv1.alpha, 0.0);
  EXPECT_EQ(kdv2.alpha, 0.5);
  EXPECT_TRUE(kdv2.lskd);
  EXPECT_EQ(dkd.alpha, 1.0);
  EXPECT_EQ(dkd.beta, 8.0);
  EXPECT_EQ(dkd.temperature, 4.0);
  EXPECT_EQ(options_for("mlkd", false).temperatures, (std::vector<double>{2, 3, 4, 5, 6}));
  EXPECT_EQ(options_for("ctkd", false).ignore_index, 255);
}

std::string parse_error(const nlohmann::json& section) {
  auto config = io::Config::from_json({{"distill", section}});
  return testing::error_message([&] {
    losses::parse_distill_options(config.root().child("distill"));
    config.check_all_used();
  });
}

TEST(DistillOptions, UnknownKindNamesTheKeyAndListsTheKinds) {
  const std::string message = parse_error({{"kind", "fitnet"}});
  EXPECT_TRUE(testing::contains(message, "distill.kind")) << message;
  EXPECT_TRUE(testing::contains(message, "fitnet")) << message;
  EXPECT_TRUE(testing::contains(message, "kdv1, kdv2, dkd, ctkd, mlkd")) << message;
}

TEST(DistillOptions, WrongTypesAndValuesNameTheKey) {
  std::string m = parse_error({{"kind", "kdv2"}, {"temperature", "hot"}});
  EXPECT_TRUE(testing::contains(m, "distill.temperature") && testing::contains(m, "expected a number")) << m;
  m = parse_error({{"kind", "kdv2"}, {"lskd", 1}});
  EXPECT_TRUE(testing::contains(m, "distill.lskd") && testing::contains(m, "true or false")) << m;
  m = parse_error({{"kind", "mlkd"}, {"temperatures", {2, "x"}}});
  EXPECT_TRUE(testing::contains(m, "distill.temperatures")) << m;
  m = parse_error({{"kind", "kdv2"}, {"alpha", 1.5}});
  EXPECT_TRUE(testing::contains(m, "distill.alpha") && testing::contains(m, "[0, 1]")) << m;
  m = parse_error({{"kind", "ctkd"}, {"temperature", 30}});
  EXPECT_TRUE(testing::contains(m, "distill.temperature") && testing::contains(m, "strictly between")) << m;
  m = parse_error({{"kind", "kdv1"}, {"temperature", -1}});
  EXPECT_TRUE(testing::contains(m, "distill.temperature") && testing::contains(m, "positive")) << m;
}

TEST(DistillOptions, AKeyOfAnotherKindIsUnused) {
  const std::string m = parse_error({{"kind", "kdv2"}, {"beta", 8}});
  EXPECT_TRUE(testing::contains(m, "distill.beta")) << m;
}

}  // namespace
}  // namespace xmkd
