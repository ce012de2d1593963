// matmul (all transpose flags), linear (with and without bias) and the gemm kernel itself.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/kernels.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::expect_error_naming;
using testing::requiring_grad;

using testing::expect_close;
using testing::expect_gradients_match;
using testing::random_normal;


// Element (i, j) of a stored row-major (rows, cols) matrix, read transposed when asked.
double at(const std::vector<float>& m, int64_t cols, bool transposed, int64_t i, int64_t j) {
  return transposed ? m[j * cols + i] : m[i * cols + j];
}

// op(a) op(b) in double loops.
Tensor reference_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1), N = tb ? b.dim(0) : b.dim(1);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> c(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += at(av, a.dim(1), ta, i, k) * at(bv, b.dim(1), tb, k, j);
      c[i * N + j] = static_cast<float>(s);
    }
  return Tensor::from_vector(c, {M, N});
}

struct Flags {
  bool ta, tb;
};
const Flags kAllFlags[] = {{false, false}, {true, false}, {false, true}, {true, true}};

Shape stored(bool transposed, int64_t rows, int64_t cols) { return transposed ? Shape{cols, rows} : Shape{rows, cols}; }

TEST(Matmul, ForwardForEveryTransposeCombination) {
  Generator gen(1);
  for (Flags f : kAllFlags) {
    // M, K, N = 37, 29, 23: odd sizes exercise the BLAS edge handling.
    Tensor a = random_normal(stored(f.ta, 37, 29), gen), b = random_normal(stored(f.tb, 29, 23), gen);
    expect_close(matmul(a, b, f.ta, f.tb), reference_matmul(a, b, f.ta, f.tb), 1e-5, 1e-5,
                 str_cat("matmul ta=", f.ta, " tb=", f.tb));
  }
}

TEST(Matmul, GradientsForEveryTransposeCombination) {
  Generator gen(2);
  for (Flags fl : kAllFlags) {
    SCOPED_TRACE(str_cat("ta=", fl.ta, " tb=", fl.tb));
    auto f = [fl](const std::vector<Tensor>& in) { return matmul(in[0], in[1], fl.ta, fl.tb); };
    expect_gradients_match(f, {requiring_grad(random_normal(stored(fl.ta, 3, 4), gen)),
                               requiring_grad(random_normal(stored(fl.tb, 4, 5), gen))});
  }
}

TEST(Matmul, GramMatrixOfOneOperand) {
  // x xᵀ: both edges reach x.
  Generator gen(3);
  expect_gradients_match([](const std::vector<Tensor>& in) { return matmul(in[0], in[0], false, true); },
                         {requiring_grad(random_normal({3, 4}, gen))});
}

TEST(Matmul, RejectsMismatchedShapes) {
  expect_error_naming([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); }, "matmul");
  expect_error_naming([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 5}), false, true); }, "matmul");
  expect_error_naming([] { matmul(Tensor::zeros({2, 3, 1}), Tensor::zeros({3, 5})); }, "matmul");
  expect_error_naming([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 5}, DType::Int32)); }, "matmul");
}

TEST(Linear, ForwardIsXWeightTransposedPlusBias) {
  Generator gen(4);
  Tensor x = random_normal({6, 7}, gen), w = random_normal({5, 7}, gen), b = random_normal({5}, gen);
  auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> with_bias(30), without(30);
  for (int n = 0; n < 6; ++n)
    for (int o = 0; o < 5; ++o) {
      double s = 0;
      for (int i = 0; i < 7; ++i) s += double(xv[n * 7 + i]) * wv[o * 7 + i];
      without[n * 5 + o] = static_cast<float>(s);
      with_bias[n * 5 + o] = static_cast<float>(s + bv[o]);
    }
  expect_close(linear(x, w, b), Tensor::from_vector(with_bias, {6, 5}), 1e-5, 1e-5, "linear");
  expect_close(linear(x, w, Tensor()), Tensor::from_vector(without, {6, 5}), 1e-5, 1e-5, "linear without bias");
}

TEST(Linear, Gradients) {
  Generator gen(5);
  expect_gradients_match([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                         {requiring_grad(random_normal({4, 3}, gen)), requiring_grad(random_normal({5, 3}, gen)),
                          requiring_grad(random_normal({5}, gen))});
  expect_gradients_match([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                         {requiring_grad(random_normal({4, 3}, gen)), requiring_grad(random_normal({2, 3}, gen))});
}

TEST(Linear, RejectsMismatchedShapes) {
  Tensor x = Tensor::zeros({4, 3});
  expect_error_naming([&] { linear(x, Tensor::zeros({5, 4}), Tensor()); }, "linear");
  expect_error_naming([&] { linear(x, Tensor::zeros({5, 3}), Tensor::zeros({4})); }, "linear");
  expect_error_naming([&] { linear(Tensor::zeros({4, 3, 1}), Tensor::zeros({5, 3}), Tensor()); }, "linear");
}

TEST(GemmKernel, BetaZeroOverwritesEvenNaN) {
  const float a[] = {1, 2, 3, 4, 5, 6};   // (2,3)
  const float b[] = {1, 0, 0, 1, 1, 1};   // (3,2)
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float c[] = {nan, nan, nan, nan};
  cpu::gemm(false, false, 2, 2, 3, 1.0f, a, b, 0.0f, c);
  EXPECT_EQ(std::vector<float>(c, c + 4), (std::vector<float>{4, 5, 10, 11}));
}

TEST(GemmKernel, AlphaAndBetaAccumulate) {
  const float a[] = {1, 2, 3, 4, 5, 6};   // stored (3,2), used transposed as (2,3)
  const float b[] = {1, 1, 1};            // (3,1)
  float c[] = {10, 20};
  cpu::gemm(true, false, 2, 1, 3, 2.0f, a, b, 0.5f, c);   // c = 2·[9, 12] + 0.5·[10, 20]
  EXPECT_EQ(std::vector<float>(c, c + 2), (std::vector<float>{23, 34}));
}

TEST(GemmKernel, EmptyInnerDimensionScalesC) {
  float c[] = {2, 4};
  cpu::gemm(false, false, 1, 2, 0, 1.0f, nullptr, nullptr, 0.5f, c);
  EXPECT_EQ(std::vector<float>(c, c + 2), (std::vector<float>{1, 2}));
}

}  // namespace
}  // namespace xmkd
