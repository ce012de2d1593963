#include "tests/support/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/autograd.h"
#include "engine/io/safetensors.h"

namespace xmkd::testing {
namespace {

double weighted_sum(const Tensor& y, const std::vector<float>& u) {
  std::vector<float> v = y.to_vector<float>();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * u[i];
  return s;
}

}  // namespace

void expect_gradients_match(const OpFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options) {
  for (Tensor& t : inputs)
    if (t.defined()) t.zero_grad();
  Tensor y = f(inputs);
  ASSERT_TRUE(y.requires_grad()) << "gradcheck: the output does not require grad";
  Generator gen(options.seed);
  std::vector<float> u(static_cast<size_t>(y.numel()));
  for (float& v : u) v = gen.normal();
  y.backward(Tensor::from_vector(u, y.shape()));

  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    ASSERT_TRUE(x.grad().defined()) << "gradcheck: input " << k << " (" << x.str() << ") received no gradient";
    std::vector<float> analytic = x.grad().to_vector<float>();
    float* p = x.data<float>();
    int64_t bad = 0;
    double worst = 0.0;
    std::string worst_msg;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float original = p[i];
      p[i] = original + static_cast<float>(options.step);
      double plus = weighted_sum(f(inputs), u);
      p[i] = original - static_cast<float>(options.step);
      double minus = weighted_sum(f(inputs), u);
      p[i] = original;
      // The perturbation actually applied, after float rounding of x ± h.
      double h2 = static_cast<double>(original + static_cast<float>(options.step)) -
                  static_cast<double>(original - static_cast<float>(options.step));
      double numeric = (plus - minus) / h2;
      double err = std::abs(analytic[i] - numeric);
      double allowed = options.atol + options.rtol * std::abs(numeric);
      if (err > allowed) {
        ++bad;
        if (err - allowed > worst) {
          worst = err - allowed;
          worst_msg = str_cat("element ", i, ": analytic ", analytic[i], " vs numeric ", numeric);
        }
      }
    }
    EXPECT_EQ(bad, 0) << "gradcheck: input " << k << " (" << x.str() << "): " << bad << " of " << x.numel()
                      << " gradient elements outside atol=" << options.atol << " rtol=" << options.rtol
                      << "; worst " << worst_msg;
  }
}

void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << ": actual is undefined";
  ASSERT_TRUE(expected.defined()) << what << ": expected is undefined";
  ASSERT_EQ(actual.shape(), expected.shape()) << what << ": shape " << shape_str(actual.shape()) << " vs expected "
                                              << shape_str(expected.shape());
  std::vector<float> a = actual.to_vector<float>();
  std::vector<float> e = expected.to_vector<float>();
  int64_t bad = 0, worst_i = -1;
  double worst = 0.0, max_abs = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::abs(static_cast<double>(a[i]) - e[i]);
    if (std::isnan(a[i]) != std::isnan(e[i])) err = INFINITY;
    max_abs = std::max(max_abs, err);
    double excess = err - (atol + rtol * std::abs(e[i]));
    if (excess > 0) {
      ++bad;
      if (excess > worst || worst_i < 0) {
        worst = excess;
        worst_i = static_cast<int64_t>(i);
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << a.size() << " elements outside atol=" << atol
                    << " rtol=" << rtol << "; max abs error " << max_abs
                    << (worst_i >= 0 ? str_cat("; worst at ", worst_i, ": ", a[worst_i], " vs expected ", e[worst_i]) : "");
}

Tensor random_away_from_zero(const Shape& shape, float margin, float spread, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    float m = margin + spread * gen.uniform();
    p[i] = gen.uniform() < 0.5f ? -m : m;
  }
  return t;
}

Tensor random_distinct(const Shape& shape, float gap, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  int64_t n = t.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.randint(i + 1)]);
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = (static_cast<float>(order[i]) - 0.5f * n) * gap;
  return t;
}

Tensor random_normal(const Shape& shape, Generator& gen, float stddev) {
  return rand_normal(shape, 0.0f, stddev, gen);
}

Tensor random_labels(const Shape& shape, int64_t classes, Generator& gen, int64_t ignored, int64_t ignore_index) {
  Tensor t = Tensor::empty(shape, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = gen.randint(classes);
  for (int64_t k = 0; k < ignored && t.numel() > 0; ++k) p[gen.randint(t.numel())] = ignore_index;
  return t;
}

TensorMap load_fixture(const std::string& name) {
  return io::load_safetensors(std::string(XMKD_FIXTURE_DIR) + "/" + name + ".safetensors");
}

Tensor fixture_tensor(const TensorMap& fixture, const std::string& key) {
  auto it = fixture.find(key);
  if (it == fixture.end()) {
    ADD_FAILURE() << "fixture has no key '" << key << "'";
    return Tensor();
  }
  return it->second;
}

}  // namespace xmkd::testing
