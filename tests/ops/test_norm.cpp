// batch_norm: forward against a two-pass double computation, the running-stat update by hand,
// gradients in training and eval mode for (N,C) and (N,C,H,W), and its argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
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

using testing::expect_close;
using testing::expect_gradients_match;
using testing::random_normal;


struct ChannelStats {
  std::vector<double> mean, biased_var, unbiased_var;
};

// Two passes in double over x viewed as (N, C, inner).
ChannelStats reference_stats(const Tensor& x) {
  const int64_t N = x.dim(0), C = x.dim(1), inner = x.numel() / (N * C);
  auto v = x.to_vector<float>();
  ChannelStats s;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) sum += v[(n * C + c) * inner + i];
    const double m = sum / (N * inner);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) sq += (v[(n * C + c) * inner + i] - m) * (v[(n * C + c) * inner + i] - m);
    s.mean.push_back(m);
    s.biased_var.push_back(sq / (N * inner));
    s.unbiased_var.push_back(sq / (N * inner - 1));
  }
  return s;
}

// y = w (x - mean)/sqrt(var + eps) + b in double.
Tensor reference_normalise(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                           const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t N = x.dim(0), C = x.dim(1), inner = x.numel() / (N * C);
  auto v = x.to_vector<float>(), w = weight.to_vector<float>(), b = bias.to_vector<float>();
  std::vector<float> y(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (n * C + c) * inner + i;
        y[k] = static_cast<float>(w[c] * (v[k] - mean[c]) / std::sqrt(var[c] + eps) + b[c]);
      }
  return Tensor::from_vector(y, x.shape());
}

std::vector<double> as_double(const Tensor& t) {
  auto v = t.to_vector<float>();
  return std::vector<double>(v.begin(), v.end());
}

TEST(BatchNorm, TrainingForwardUsesBatchStatistics) {
  Generator gen(1);
  for (const Shape& shape : {Shape{8, 5}, Shape{4, 3, 5, 6}, Shape{8, 16, 16, 16}, Shape{4096, 8}}) {
    Tensor x = random_normal(shape, gen, 2.0f);
    Tensor w = random_normal({shape[1]}, gen), b = random_normal({shape[1]}, gen);
    ChannelStats s = reference_stats(x);
    Tensor y = batch_norm(x, w, b, Tensor(), Tensor(), /*training=*/true, 0.1f, 1e-5f);
    expect_close(y, reference_normalise(x, s.mean, s.biased_var, w, b, 1e-5), 1e-5, 1e-5,
                 "batch_norm training " + shape_str(shape));
  }
}

TEST(BatchNorm, StatisticsStayAccurateForALargeMean) {
  // mean/std = 1000: a float32 Σx² − (Σx)²/n would lose the variance entirely.
  Generator gen(2);
  Tensor x = add(random_normal({16, 2, 8, 8}, gen), Tensor::scalar(1000.0f));
  Tensor w = Tensor::ones({2}), b = Tensor::zeros({2});
  ChannelStats s = reference_stats(x);
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor y = batch_norm(x, w, b, rm, rv, true, 1.0f, 1e-5f);   // momentum 1: running = batch
  // |y| error from rounding the mean to float: ulp(1000)/2 · invstd ≈ 3e-5.
  expect_close(y, reference_normalise(x, s.mean, s.biased_var, w, b, 1e-5), 1e-4, 0,
               "batch_norm with mean 1000");
  expect_close(rv, Tensor::from_vector(std::vector<float>(s.unbiased_var.begin(), s.unbiased_var.end()), {2}), 0,
               1e-5, "running_var with mean 1000");
}

TEST(BatchNorm, RunningStatsByHand) {
  // x: (4, 2); channel 0 = {1, 2, 3, 4}: mean 2.5, unbiased var 5/3;
  //            channel 1 = {0, 0, 0, 2}: mean 0.5, unbiased var (3·0.25 + 2.25)/3 = 1.
  Tensor x = Tensor::from_vector<float>({1, 0, 2, 0, 3, 0, 4, 2}, {4, 2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  batch_norm(x, Tensor::ones({2}), Tensor::zeros({2}), rm, rv, true, 0.1f, 1e-5f);
  // running = 0.9 · running + 0.1 · batch
  expect_close(rm, Tensor::from_vector<float>({0.25f, 0.05f}, {2}), 1e-7, 1e-6, "running_mean");
  expect_close(rv, Tensor::from_vector<float>({0.9f + 0.1f * 5.0f / 3.0f, 1.0f}, {2}), 1e-7, 1e-6, "running_var");
}

TEST(BatchNorm, RunningStatsOfARandomBatch) {
  Generator gen(3);
  Tensor x = random_normal({3, 4, 5, 5}, gen, 1.5f);
  ChannelStats s = reference_stats(x);
  Tensor rm = random_normal({4}, gen), rv = add(random_normal({4}, gen, 0.1f), Tensor::scalar(1.0f));
  auto rm0 = as_double(rm), rv0 = as_double(rv);
  batch_norm(x, Tensor::ones({4}), Tensor::zeros({4}), rm, rv, true, 0.3f, 1e-5f);
  std::vector<float> em, ev;
  for (int c = 0; c < 4; ++c) {
    em.push_back(static_cast<float>(0.7 * rm0[c] + 0.3 * s.mean[c]));
    ev.push_back(static_cast<float>(0.7 * rv0[c] + 0.3 * s.unbiased_var[c]));
  }
  expect_close(rm, Tensor::from_vector(em, {4}), 1e-6, 1e-5, "running_mean");
  expect_close(rv, Tensor::from_vector(ev, {4}), 1e-6, 1e-5, "running_var");
}

TEST(BatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  Generator gen(4);
  Tensor x = random_normal({2, 3, 4, 4}, gen);
  Tensor w = random_normal({3}, gen), b = random_normal({3}, gen);
  Tensor rm = random_normal({3}, gen), rv = Tensor::from_vector<float>({0.5f, 1.0f, 2.0f}, {3});
  Tensor y = batch_norm(x, w, b, rm, rv, /*training=*/false, 0.1f, 1e-3f);
  expect_close(y, reference_normalise(x, as_double(rm), as_double(rv), w, b, 1e-3), 1e-5, 1e-5, "batch_norm eval");
  EXPECT_EQ(rv.to_vector<float>(), (std::vector<float>{0.5f, 1.0f, 2.0f}));
  // One sample is fine in eval.
  Tensor x1 = random_normal({1, 3}, gen);
  expect_close(batch_norm(x1, w, b, rm, rv, false), reference_normalise(x1, as_double(rm), as_double(rv), w, b, 1e-5),
               1e-5, 1e-5, "batch_norm eval (1, 3)");
}

// Training gradients to x, weight and bias. running stats are passed (and updated every call:
// they do not influence the training output).
void check_training_gradients(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  const int64_t C = shape[1];
  Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
  auto f = [rm, rv](const std::vector<Tensor>& in) {
    return batch_norm(in[0], in[1], in[2], rm, rv, true, 0.1f, 1e-5f);
  };
  expect_gradients_match(f, {requiring_grad(random_normal(shape, gen)), requiring_grad(random_normal({C}, gen)),
                             requiring_grad(random_normal({C}, gen))});
}

TEST(BatchNorm, TrainingGradients2d) { check_training_gradients({6, 4}, 5); }
TEST(BatchNorm, TrainingGradients4d) { check_training_gradients({3, 2, 3, 4}, 6); }

TEST(BatchNorm, EvalGradients) {
  Generator gen(7);
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 3, 3}}) {
    Tensor rm = random_normal({3}, gen), rv = Tensor::from_vector<float>({0.5f, 1.0f, 2.0f}, {3});
    auto f = [rm, rv](const std::vector<Tensor>& in) {
      return batch_norm(in[0], in[1], in[2], rm, rv, false, 0.1f, 1e-5f);
    };
    expect_gradients_match(f, {requiring_grad(random_normal(shape, gen)), requiring_grad(random_normal({3}, gen)),
                               requiring_grad(random_normal({3}, gen))});
  }
}

TEST(BatchNorm, ParameterGradientsWithoutAnInputGradient) {
  // x is data (no grad): backward still needs x for dweight = Σ g·x̂.
  Generator gen(8);
  Tensor x = random_normal({4, 3, 2, 2}, gen);
  auto f = [x](const std::vector<Tensor>& in) { return batch_norm(x, in[0], in[1], Tensor(), Tensor(), true); };
  expect_gradients_match(f, {requiring_grad(random_normal({3}, gen)), requiring_grad(random_normal({3}, gen))});
  auto only_x = [](const std::vector<Tensor>& in) {
    return batch_norm(in[0], Tensor::full({3}, 1.5f), Tensor::zeros({3}), Tensor(), Tensor(), true);
  };
  expect_gradients_match(only_x, {requiring_grad(random_normal({4, 3, 2, 2}, gen))});
}

TEST(BatchNorm, OnlyTheBiasGradient) {
  // Neither x's nor weight's gradient is wanted: backward keeps no x and must not read it.
  Generator gen(12);
  Tensor x = random_normal({4, 3, 2, 2}, gen), w = random_normal({3}, gen);
  for (bool training : {true, false}) {
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    auto f = [&](const std::vector<Tensor>& in) { return batch_norm(x, w, in[0], rm, rv, training, 0.1f, 1e-5f); };
    expect_gradients_match(f, {requiring_grad(random_normal({3}, gen))});
  }
}

TEST(BatchNorm, TrainingBackwardMatchesTheClosedFormOnALargeBatch) {
  // Large enough for the kernel's parallel path; reference in double:
  // dx = w·invstd·(g - mean(g) - x̂·mean(g·x̂)),  dw = Σ g·x̂,  db = Σ g.
  Generator gen(9);
  const int64_t N = 8, C = 16, inner = 256;
  Tensor x = requiring_grad(random_normal({N, C, 16, 16}, gen, 3.0f));
  Tensor w = requiring_grad(random_normal({C}, gen)), b = requiring_grad(random_normal({C}, gen));
  Tensor u = random_normal(x.shape(), gen);
  batch_norm(x, w, b, Tensor(), Tensor(), true, 0.1f, 1e-5f).backward(u);

  ChannelStats s = reference_stats(x);
  auto xv = x.to_vector<float>(), uv = u.to_vector<float>(), wv = w.to_vector<float>();
  std::vector<float> dx(xv.size()), dw(C), db(C);
  const double n = N * inner;
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(s.biased_var[c] + 1e-5);
    double sum_g = 0, sum_gx = 0;
    for (int64_t k = 0; k < N; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (k * C + c) * inner + i;
        sum_g += uv[at];
        sum_gx += uv[at] * (xv[at] - s.mean[c]) * invstd;
      }
    dw[c] = static_cast<float>(sum_gx);
    db[c] = static_cast<float>(sum_g);
    for (int64_t k = 0; k < N; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t at = (k * C + c) * inner + i;
        const double xhat = (xv[at] - s.mean[c]) * invstd;
        dx[at] = static_cast<float>(wv[c] * invstd * (uv[at] - sum_g / n - xhat * sum_gx / n));
      }
  }
  expect_close(x.grad(), Tensor::from_vector(dx, x.shape()), 1e-6, 1e-4, "batch_norm dx");
  expect_close(w.grad(), Tensor::from_vector(dw, {C}), 1e-4, 1e-5, "batch_norm dweight");
  expect_close(b.grad(), Tensor::from_vector(db, {C}), 1e-4, 1e-5, "batch_norm dbias");
}

TEST(BatchNorm, OneValuePerChannelIsAnErrorWhenTraining) {
  Tensor w = Tensor::ones({3}), b = Tensor::zeros({3});
  expect_error_naming([&] { batch_norm(Tensor::zeros({1, 3}), w, b, Tensor(), Tensor(), true); }, "batch_norm",
                      "more than 1 value per channel");
  expect_error_naming([&] { batch_norm(Tensor::zeros({1, 3, 1, 1}), w, b, Tensor(), Tensor(), true); }, "batch_norm",
                      "more than 1 value per channel");
}

TEST(BatchNorm, RejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor c3 = Tensor::ones({3});
  expect_error_naming([&] { batch_norm(x, Tensor::ones({4}), c3, Tensor(), Tensor(), true); }, "batch_norm",
                      "weight");
  expect_error_naming([&] { batch_norm(x, c3, Tensor::ones({3, 1}), Tensor(), Tensor(), true); }, "batch_norm",
                      "bias");
  expect_error_naming([&] { batch_norm(x, c3, c3, Tensor::zeros({2}), Tensor(), true); }, "batch_norm",
                      "running_mean");
  expect_error_naming([&] { batch_norm(x, c3, c3, Tensor(), Tensor(), false); }, "batch_norm", "running");
  expect_error_naming([&] { batch_norm(Tensor::zeros({2, 3, 4}), c3, c3, Tensor(), Tensor(), true); }, "batch_norm");
  expect_error_naming([&] { batch_norm(Tensor::zeros({2, 3}, DType::Int64), c3, c3, Tensor(), Tensor(), true); },
                      "batch_norm");
}

}  // namespace
}  // namespace xmkd
