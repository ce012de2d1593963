// CroDiNo-KD's contrastive pieces (losses/contrastive.h): the nearest resize of label maps, masked
// average pooling by class (forward by hand, finite-difference gradients, absent classes, ignored
// samples, resized labels, errors), and the prototype InfoNCE against PyTorch
// (tests/fixtures/contrastive.safetensors, written by tools/torch_fixtures/contrastive.py).
//
// Tolerance for the PyTorch comparisons: atol 1e-6 + rtol 1e-5 on the losses (order 1-10) and
// gradients (order 1e-3-1). Both sides work in float32 (xmkd sums in double and rounds once); a
// loss passes through normalisation, a matmul, a 1/τ = 10 scale and a log-sum-exp, about ten
// roundings of relative size 6e-8 each, amplified at most by the 1/τ scale: well within 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "losses/contrastive.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using losses::ClassPrototypes;
using losses::class_prototypes;
using losses::cross_modal_prototype_contrast;
using losses::prototype_info_nce;
using losses::resize_labels_nearest;
using testing::contains;
using testing::error_message;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::fixture_tensor;
using testing::load_fixture;
using testing::random_normal;
using testing::requiring_grad;

constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;

Tensor labels_of(const std::vector<int64_t>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }

// A prototype set from fixture rows and keys (P, 2) = (sample, class).
ClassPrototypes prototypes_from(const TensorMap& f, const std::string& rows, const std::string& keys) {
  ClassPrototypes p;
  p.prototypes = requiring_grad(fixture_tensor(f, rows).clone());
  std::vector<int64_t> k = fixture_tensor(f, keys).to_vector<int64_t>();
  for (size_t i = 0; i < k.size(); i += 2) {
    p.samples.push_back(k[i]);
    p.classes.push_back(k[i + 1]);
  }
  return p;
}

// ---- resize_labels_nearest ------------------------------------------------------------------

TEST(ResizeLabelsNearest, MatchesPyTorchNearestForIntegerAndFractionalRatios) {
  TensorMap f = load_fixture("contrastive");
  // 16 -> 4 (ratio 4) and 10 -> 4 (ratio 2.5: rows 0, 2, 5, 7).
  for (const char* tag : {"a", "b"}) {
    Tensor resized = resize_labels_nearest(fixture_tensor(f, std::string("labels_") + tag), 4, 4);
    EXPECT_EQ(resized.to_vector<int64_t>(),
              fixture_tensor(f, std::string("labels_") + tag + "_resized").to_vector<int64_t>())
        << tag;
  }
}

TEST(ResizeLabelsNearest, SameSizeIsTheIdentityAndErrorsNameTheOp) {
  Tensor labels = labels_of({0, 1, 2, 3}, {1, 2, 2});
  EXPECT_EQ(resize_labels_nearest(labels, 2, 2).to_vector<int64_t>(), labels.to_vector<int64_t>());
  EXPECT_EQ(resize_labels_nearest(labels, 4, 4).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}));
  testing::expect_error_naming([&] { resize_labels_nearest(Tensor::zeros({1, 2, 2}), 1, 1); },
                               "resize_labels_nearest", "int64");
}

// ---- class_prototypes -------------------------------------------------------------------------

TEST(ClassPrototypes, ForwardMatchesAHandComputation) {
  // features (2, 2, 2, 2): channel 0 = v, channel 1 = 10 v, v = 1..4 in sample 0 and 5..8 in sample 1.
  std::vector<float> values;
  for (int n = 0; n < 2; ++n)
    for (int d = 0; d < 2; ++d)
      for (int p = 0; p < 4; ++p) values.push_back(static_cast<float>((d == 0 ? 1 : 10) * (4 * n + p + 1)));
  Tensor features = Tensor::from_vector(values, {2, 2, 2, 2});
  // Sample 0: class 0 at {0, 3}, class 2 at {1}, one ignored; sample 1: class 2 everywhere but one ignored.
  Tensor labels = labels_of({0, 2, 255, 0, 2, 255, 2, 2}, {2, 2, 2});
  ClassPrototypes p = class_prototypes(features, labels, 4);
  EXPECT_EQ(p.samples, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(p.classes, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(p.prototypes.shape(), (Shape{3, 2}));
  // (1 + 4)/2 = 2.5; 2; (5 + 7 + 8)/3 = 20/3.
  expect_close(p.prototypes, Tensor::from_vector<float>({2.5f, 25.0f, 2.0f, 20.0f, 20.0f / 3, 200.0f / 3}, {3, 2}),
               1e-6, 1e-6, "prototypes");
}

TEST(ClassPrototypes, AnAllIgnoredSampleHasNoPrototypeAndNoGradient) {
  Tensor features = requiring_grad(Tensor::full({2, 3, 2, 2}, 1.5f));
  Tensor labels = labels_of({255, 255, 255, 255, 1, 1, 3, 255}, {2, 2, 2});
  ClassPrototypes p = class_prototypes(features, labels, 4);
  EXPECT_EQ(p.samples, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(p.classes, (std::vector<int64_t>{1, 3}));
  sum(p.prototypes).backward();
  std::vector<float> g = features.grad().to_vector<float>();
  for (int d = 0; d < 3; ++d)
    for (int q = 0; q < 4; ++q) EXPECT_EQ(g[static_cast<size_t>(d * 4 + q)], 0.0f) << "sample 0";
  // Sample 1: class 1 has 2 pixels (gradient 1/2 each), class 3 one (1), the ignored one 0.
  for (int d = 0; d < 3; ++d) {
    const size_t base = static_cast<size_t>(12 + d * 4);
    EXPECT_FLOAT_EQ(g[base + 0], 0.5f);
    EXPECT_FLOAT_EQ(g[base + 1], 0.5f);
    EXPECT_FLOAT_EQ(g[base + 2], 1.0f);
    EXPECT_FLOAT_EQ(g[base + 3], 0.0f);
  }
}

TEST(ClassPrototypes, EveryPixelIgnoredGivesNoRows) {
  Tensor features = requiring_grad(Tensor::ones({1, 2, 2, 2}));
  ClassPrototypes p = class_prototypes(features, labels_of({255, 255, 255, 255}, {1, 2, 2}), 3);
  EXPECT_EQ(p.size(), 0);
  EXPECT_EQ(p.prototypes.shape(), (Shape{0, 2}));
}

TEST(ClassPrototypes, GradientsMatchFiniteDifferences) {
  Generator gen(41);
  Tensor features = requiring_grad(random_normal({2, 3, 4, 4}, gen));
  // Classes absent (class 3 never appears in sample 0), an all-ignored sample (1) and ignored pixels.
  std::vector<int64_t> v(32);
  for (int p = 0; p < 16; ++p) v[static_cast<size_t>(p)] = p % 5 == 4 ? 255 : p % 3;
  for (int p = 16; p < 32; ++p) v[static_cast<size_t>(p)] = 255;
  Tensor labels = labels_of(v, {2, 4, 4});
  expect_gradients_match([&](const std::vector<Tensor>& in) { return class_prototypes(in[0], labels, 4).prototypes; },
                         {features});

  // Labels resized from a larger map (13x11 -> 4x4, fractional ratios).
  Tensor big = testing::random_labels({2, 13, 11}, 4, gen, /*ignored=*/20, /*ignore_index=*/255);
  Tensor resized = resize_labels_nearest(big, 4, 4);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) { return class_prototypes(in[0], resized, 4).prototypes; }, {features});
}

TEST(ClassPrototypes, ErrorsNameTheOpAndTheProblem) {
  Tensor features = Tensor::zeros({1, 2, 2, 2});
  std::string message = error_message([&] { class_prototypes(features, labels_of({0, 1, 7, 0}, {1, 2, 2}), 4); });
  EXPECT_TRUE(contains(message, "class_prototypes")) << message;
  EXPECT_TRUE(contains(message, "label 7")) << message;
  message = error_message([&] { class_prototypes(features, labels_of({0, 1, 2, 0, 1, 2}, {1, 2, 3}), 4); });
  EXPECT_TRUE(contains(message, "class_prototypes")) << message;
  EXPECT_TRUE(contains(message, "(1, 2, 3)")) << message;
  testing::expect_error_naming([&] { class_prototypes(features, Tensor::zeros({1, 2, 2}), 4); }, "class_prototypes",
                               "int64");
}

// ---- prototype_info_nce --------------------------------------------------------------------------

TEST(PrototypeInfoNce, MatchesPyTorchLossAndGradients) {
  TensorMap f = load_fixture("contrastive");
  for (auto [tag, tau] : {std::pair<std::string, float>{"t01", 0.1f}, {"t05", 0.5f}}) {
    ClassPrototypes a = prototypes_from(f, "proto_a", "proto_a_keys");
    ClassPrototypes b = prototypes_from(f, "proto_b", "proto_b_keys");
    Tensor loss = prototype_info_nce(a, b, tau);
    expect_close(loss, fixture_tensor(f, "proto_loss_" + tag), kAtol, kRtol, "loss " + tag);
    loss.backward(fixture_tensor(f, "proto_grad_loss_" + tag));
    expect_close(a.prototypes.grad(), fixture_tensor(f, "proto_grad_a_" + tag), kAtol, kRtol, "grad a " + tag);
    expect_close(b.prototypes.grad(), fixture_tensor(f, "proto_grad_b_" + tag), kAtol, kRtol, "grad b " + tag);
  }
}

TEST(PrototypeInfoNce, GradientsMatchFiniteDifferences) {
  TensorMap f = load_fixture("contrastive");
  ClassPrototypes a = prototypes_from(f, "proto_a", "proto_a_keys");
  ClassPrototypes b = prototypes_from(f, "proto_b", "proto_b_keys");
  testing::GradcheckOptions options;
  options.step = 1e-3;   // smooth but curved (normalise, exp): O(h²) truncation
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        ClassPrototypes x = a, y = b;
        x.prototypes = in[0];
        y.prototypes = in[1];
        return prototype_info_nce(x, y, 0.5f);
      },
      {a.prototypes, b.prototypes}, options);
}

TEST(PrototypeInfoNce, NoSharedKeyGivesZeroAndBadArgumentsAreErrors) {
  ClassPrototypes a, b;
  a.prototypes = Tensor::ones({1, 3});
  a.samples = {0};
  a.classes = {1};
  b.prototypes = Tensor::ones({1, 3});
  b.samples = {0};
  b.classes = {2};
  EXPECT_EQ(prototype_info_nce(a, b, 0.1f).item(), 0.0f);
  testing::expect_error_naming([&] { prototype_info_nce(a, b, 0.0f); }, "prototype_info_nce", "temperature");
  b.samples.push_back(1);
  testing::expect_error_naming([&] { prototype_info_nce(a, b, 0.1f); }, "prototype_info_nce", "keys");
}

// ---- cross_modal_prototype_contrast ------------------------------------------------------------

TEST(CrossModalPrototypeContrast, MatchesPyTorchFromFeatureMapsAndLabelMaps) {
  TensorMap f = load_fixture("contrastive");
  Tensor fa = requiring_grad(fixture_tensor(f, "features_a").clone());
  Tensor fb = requiring_grad(fixture_tensor(f, "features_b").clone());
  Tensor la = fixture_tensor(f, "labels_a"), lb = fixture_tensor(f, "labels_b");
  // The prototypes themselves (class 3 absent from a's sample 1, class 2 from b's sample 0).
  expect_close(class_prototypes(fa, resize_labels_nearest(la, 4, 4), 4).prototypes,
               fixture_tensor(f, "features_proto_a"), 1e-6, 1e-6, "prototypes a");
  expect_close(class_prototypes(fb, resize_labels_nearest(lb, 4, 4), 4).prototypes,
               fixture_tensor(f, "features_proto_b"), 1e-6, 1e-6, "prototypes b");

  Tensor loss = cross_modal_prototype_contrast({fa, fb}, {la, lb}, 4, 0.1f);
  expect_close(loss, fixture_tensor(f, "features_loss"), kAtol, kRtol, "loss");
  loss.backward(fixture_tensor(f, "features_grad_loss"));
  expect_close(fa.grad(), fixture_tensor(f, "features_grad_a"), kAtol, kRtol, "grad features a");
  expect_close(fb.grad(), fixture_tensor(f, "features_grad_b"), kAtol, kRtol, "grad features b");
}

TEST(CrossModalPrototypeContrast, ThreeModalitiesAverageTheirPairs) {
  Generator gen(43);
  std::vector<Tensor> features, labels;
  for (int m = 0; m < 3; ++m) {
    features.push_back(random_normal({2, 4, 2, 2}, gen));
    labels.push_back(testing::random_labels({2, 8, 8}, 3, gen, 4, 255));
  }
  auto pair = [&](int i, int j) {
    return prototype_info_nce(class_prototypes(features[i], resize_labels_nearest(labels[i], 2, 2), 3),
                              class_prototypes(features[j], resize_labels_nearest(labels[j], 2, 2), 3), 0.1f)
        .item();
  };
  const float expected = (pair(0, 1) + pair(0, 2) + pair(1, 2)) / 3.0f;
  EXPECT_NEAR(cross_modal_prototype_contrast(features, labels, 3, 0.1f).item(), expected, 1e-5);
}

TEST(CrossModalPrototypeContrast, NothingSharedIsAZeroWithAZeroGradient) {
  Tensor fa = requiring_grad(Tensor::ones({1, 2, 2, 2}));
  Tensor fb = requiring_grad(Tensor::ones({1, 2, 2, 2}));
  Tensor loss = cross_modal_prototype_contrast({fa, fb}, {labels_of({0, 0, 0, 0}, {1, 2, 2}),
                                                          labels_of({1, 1, 255, 1}, {1, 2, 2})}, 2, 0.1f);
  EXPECT_EQ(loss.item(), 0.0f);
  loss.backward();
  for (float g : fa.grad().to_vector<float>()) EXPECT_EQ(g, 0.0f);
  testing::expect_error_naming([&] { cross_modal_prototype_contrast({fa}, {labels_of({0, 0, 0, 0}, {1, 2, 2})}, 2, 0.1f); },
                               "cross_modal_prototype_contrast", "at least 2");
}

TEST(OrthogonalityLoss, IsTheMeanCosineOverPositions) {
  Generator gen(44);
  Tensor a = random_normal({2, 5, 3, 3}, gen), b = random_normal({2, 5, 3, 3}, gen);
  EXPECT_NEAR(losses::orthogonality_loss(a, b).item(), mean(cosine_similarity(a, b)).item(), 1e-7);
  // Orthogonal channel vectors give 0.
  Tensor x = Tensor::from_vector<float>({1, 0, 0, 1}, {1, 2, 2, 1});   // position 0: (1, 0); 1: (0, 1)
  Tensor y = Tensor::from_vector<float>({0, 1, 1, 0}, {1, 2, 2, 1});   // position 0: (0, 1); 1: (1, 0)
  EXPECT_EQ(losses::orthogonality_loss(x, y).item(), 0.0f);
}

}  // namespace
}  // namespace xmkd
