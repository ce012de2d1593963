// sum and mean over all elements: value, accuracy of the accumulation, gradients.
#include <gtest/gtest.h>
#include <omp.h>

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

using testing::expect_gradients_match;
using testing::random_normal;


double double_sum(const Tensor& x) {
  double s = 0;
  for (float v : x.to_vector<float>()) s += v;
  return s;
}

TEST(Sum, IsAScalarEqualToTheDoubleSum) {
  Generator gen(1);
  Tensor x = random_normal({3, 4, 5}, gen);
  Tensor s = sum(x);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_FLOAT_EQ(s.item(), static_cast<float>(double_sum(x)));
  Tensor m = mean(x);
  EXPECT_EQ(m.shape(), Shape{});
  EXPECT_FLOAT_EQ(m.item(), static_cast<float>(double_sum(x) / 60));
}

TEST(Sum, ManyTermsKeepFloatPrecision) {
  // 2^21 copies of 0.1f: a float accumulator drifts by ~1e-3 relative; double stays within
  // the final rounding to float.
  const int64_t n = int64_t(1) << 21;
  Tensor x = Tensor::full({n}, 0.1f);
  const double exact = static_cast<double>(0.1f) * n;
  EXPECT_NEAR(sum(x).item(), exact, exact * 1e-7);
  EXPECT_NEAR(mean(x).item(), 0.1f, 0.1 * 1e-7);
}

TEST(Sum, ResultDoesNotDependOnTheThreadCount) {
  // +1e30 at the start, -1e30 at the end, ones between: the ones survive or vanish depending on
  // the order in which partial sums are combined, so that order must not follow the threads.
  const int64_t n = int64_t(3) << 16;
  std::vector<float> v(static_cast<size_t>(n), 1.0f);
  v.front() = 1e30f;
  v.back() = -1e30f;
  Tensor x = Tensor::from_vector(v, {n});
  const int threads = omp_get_max_threads();
  std::vector<float> sums, dots;
  for (int t : {1, 2, 3, 5}) {
    omp_set_num_threads(t);
    sums.push_back(sum(x).item());
    Tensor s = requiring_grad(Tensor::scalar(1.0f));
    sum(mul(x, s)).backward();   // ds = Σ x·1 through the dot kernel
    dots.push_back(s.grad().item());
  }
  omp_set_num_threads(threads);
  for (size_t i = 1; i < sums.size(); ++i) {
    EXPECT_EQ(sums[i], sums[0]);
    EXPECT_EQ(dots[i], dots[0]);
  }
}

TEST(Sum, GradientsAreOnesAndOneOverN) {
  Generator gen(2);
  expect_gradients_match([](const std::vector<Tensor>& in) { return sum(in[0]); }, {requiring_grad(random_normal({2, 3, 4}, gen))});
  expect_gradients_match([](const std::vector<Tensor>& in) { return mean(in[0]); },
                         {requiring_grad(random_normal({2, 3, 4}, gen))});
  Tensor x = requiring_grad(random_normal({4, 5}, gen));
  mean(x).backward(Tensor::scalar(2.0f));
  for (float g : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(g, 2.0f / 20);
}

TEST(Sum, RejectsNonFloat) {
  expect_error_naming([] { sum(Tensor::zeros({3}, DType::Int64)); }, "sum");
  expect_error_naming([] { mean(Tensor::zeros({3}, DType::Int32)); }, "mean");
  expect_error_naming([] { mean(Tensor()); }, "mean");
}

}  // namespace
}  // namespace xmkd
