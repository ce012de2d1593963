// dropout (inverted, mask from a Generator) and gradient_reversal.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::expect_error_naming;
using testing::requiring_grad;

using testing::expect_gradients_match;
using testing::random_away_from_zero;
using testing::random_normal;


TEST(Dropout, KeepsOrZeroesAndRescales) {
  Generator data(1);
  // Inputs away from zero, so a zero output can only come from the mask.
  Tensor x = random_away_from_zero({100000}, 0.1f, 1.0f, data);
  Generator gen(42);
  const float p = 0.3f;
  Tensor y = dropout(x, p, true, gen);
  auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  int64_t dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0f) ++dropped;
    else ASSERT_FLOAT_EQ(yv[i], xv[i] / (1 - p)) << i;
  }
  // Binomial(1e5, 0.3): standard deviation 0.0015 in the dropped fraction.
  EXPECT_NEAR(static_cast<double>(dropped) / xv.size(), p, 0.01);
}

TEST(Dropout, TheSameSeedGivesTheSameMask) {
  Tensor x = Tensor::ones({1000});
  Generator g1(7), g2(7);
  std::vector<float> first = dropout(x, 0.5f, true, g1).to_vector<float>();
  EXPECT_EQ(dropout(x, 0.5f, true, g2).to_vector<float>(), first);
  // The generator advances: the next mask differs.
  EXPECT_NE(dropout(x, 0.5f, true, g1).to_vector<float>(), first);
}

TEST(Dropout, IdentityWhenNotTrainingOrPIsZero) {
  Generator gen(3);
  Tensor x = requiring_grad(random_normal({4, 4}, gen));
  EXPECT_TRUE(dropout(x, 0.5f, false, gen).same_as(x));
  EXPECT_TRUE(dropout(x, 0.0f, true, gen).same_as(x));
}

TEST(Dropout, GradientUsesTheSavedMask) {
  Generator data(4);
  Tensor x = requiring_grad(random_away_from_zero({500}, 0.1f, 1.0f, data));
  Tensor u = random_normal({500}, data);
  Generator gen(9);
  Tensor y = dropout(x, 0.25f, true, gen);
  y.backward(u);
  auto yv = y.to_vector<float>(), gv = x.grad().to_vector<float>(), uv = u.to_vector<float>();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(gv[i], yv[i] == 0.0f ? 0.0f : uv[i] * (1.0f / 0.75f)) << i;
  // Finite differences with the mask fixed by reseeding a generator on every call.
  auto f = [](const std::vector<Tensor>& in) {
    Generator g(11);
    return dropout(in[0], 0.4f, true, g);
  };
  expect_gradients_match(f, {requiring_grad(random_normal({3, 7}, data))});
}

TEST(Dropout, RejectsPOutsideZeroToOne) {
  Tensor x = Tensor::ones({3});
  expect_error_naming([&] { dropout(x, 1.0f, true); }, "dropout");
  expect_error_naming([&] { dropout(x, -0.1f, true); }, "dropout");
  expect_error_naming([&] { dropout(x, std::numeric_limits<float>::quiet_NaN(), true); }, "dropout");
  expect_error_naming([&] { dropout(x, 1.5f, false); }, "dropout");
  expect_error_naming([] { dropout(Tensor::zeros({3}, DType::Int64), 0.5f, true); }, "dropout");
}

TEST(GradientReversal, ForwardCopiesBackwardNegatesAndScales) {
  Generator gen(5);
  Tensor x = requiring_grad(random_normal({3, 4}, gen));
  Tensor y = gradient_reversal(x, 0.5f);
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  EXPECT_NE(y.raw_data(), x.raw_data());
  Tensor u = random_normal({3, 4}, gen);
  y.backward(u);
  auto g = x.grad().to_vector<float>(), uv = u.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], -0.5f * uv[i]) << i;
}

TEST(GradientReversal, ReversesTheChainRuleThroughLaterOps) {
  // L = Σ w · grl(x): dL/dx = -lambda · w (the opposite of what plain finite differences give).
  Generator gen(6);
  Tensor x = requiring_grad(random_normal({2, 3}, gen));
  Tensor w = random_normal({2, 3}, gen);
  sum(mul(gradient_reversal(x, 2.0f), w)).backward();
  auto g = x.grad().to_vector<float>(), wv = w.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], -2.0f * wv[i]) << i;
  expect_error_naming([] { gradient_reversal(Tensor::zeros({2}, DType::Int32), 1.0f); }, "gradient_reversal");
}

}  // namespace
}  // namespace xmkd
