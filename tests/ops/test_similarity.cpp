// cosine_similarity and l2_normalize: forward against double-precision references written here,
// finite-difference gradients on every input, the eps clamps (PyTorch 1.13 semantics) and errors.
#include <gtest/gtest.h>

#include <cmath>
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
using testing::random_normal;

// A tensor (N, C, d2, ...) as (outer, C, inner); element (o, c, i) at (o*C + c)*inner + i.
struct Dims {
  int64_t outer, C, inner;
  explicit Dims(const Shape& s) : outer(s[0]), C(s[1]), inner(1) {
    for (size_t k = 2; k < s.size(); ++k) inner *= s[k];
  }
  int64_t at(int64_t o, int64_t c, int64_t i) const { return (o * C + c) * inner + i; }
};

Shape without_dim1(Shape s) {
  s.erase(s.begin() + 1);
  return s;
}

// a·b / (max(|a|, eps) max(|b|, eps)) per position, in double.
Tensor reference_cosine(const Tensor& a, const Tensor& b, double eps) {
  const Dims d(a.shape());
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> out;
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) {
      double dot = 0, aa = 0, bb = 0;
      for (int64_t c = 0; c < d.C; ++c) {
        double x = av[d.at(o, c, i)], y = bv[d.at(o, c, i)];
        dot += x * y;
        aa += x * x;
        bb += y * y;
      }
      out.push_back(static_cast<float>(dot / (std::max(std::sqrt(aa), eps) * std::max(std::sqrt(bb), eps))));
    }
  return Tensor::from_vector(out, without_dim1(a.shape()));
}

// x / max(|x|, eps) over dim 1, in double.
Tensor reference_normalize(const Tensor& x, double eps) {
  const Dims d(x.shape());
  std::vector<float> v = x.to_vector<float>(), out(v.size());
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) {
      double xx = 0;
      for (int64_t c = 0; c < d.C; ++c) xx += static_cast<double>(v[d.at(o, c, i)]) * v[d.at(o, c, i)];
      double denom = std::max(std::sqrt(xx), eps);
      for (int64_t c = 0; c < d.C; ++c) out[d.at(o, c, i)] = static_cast<float>(v[d.at(o, c, i)] / denom);
    }
  return Tensor::from_vector(out, x.shape());
}

// ---- cosine_similarity ------------------------------------------------------------------------

TEST(CosineSimilarity, ForwardMatchesDoubleReference) {
  Generator gen(21);
  for (const Shape& shape : {Shape{5, 8}, Shape{2, 6, 3, 4}}) {
    Tensor a = random_normal(shape, gen), b = random_normal(shape, gen);
    Tensor y = cosine_similarity(a, b);
    EXPECT_EQ(y.shape(), without_dim1(shape));
    // |cos| <= 1 from double sums rounded to float: a few ulps.
    expect_close(y, reference_cosine(a, b, 1e-8), 1e-7, 1e-6, "cosine " + shape_str(shape));
  }
  Tensor a = Tensor::from_vector<float>({1, 2, 3, -4, 0, 0}, {2, 3});
  EXPECT_EQ(cosine_similarity(a, a).to_vector<float>()[0], 1.0f);
  Tensor b = Tensor::from_vector<float>({-2, -4, -6, 0, 5, 0}, {2, 3});
  EXPECT_EQ(cosine_similarity(a, b).to_vector<float>(), (std::vector<float>{-1.0f, 0.0f}));
}

TEST(CosineSimilarity, LargeInputsMatchDoubleReference) {
  Generator gen(25);
  const Shape shape{2, 16, 32, 40};   // 40960 elements: the OpenMP path
  Tensor a = random_normal(shape, gen), b = random_normal(shape, gen);
  expect_close(cosine_similarity(a, b), reference_cosine(a, b, 1e-8), 1e-7, 1e-6, "cosine large");
  expect_close(l2_normalize(a), reference_normalize(a, 1e-12), 1e-7, 1e-6, "l2_normalize large");
}

TEST(CosineSimilarity, GradientsToBothInputs) {
  Generator gen(22);
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 4, 2, 3}}) {
    Tensor a = requiring_grad(random_normal(shape, gen)), b = requiring_grad(random_normal(shape, gen));
    expect_gradients_match([](const std::vector<Tensor>& in) { return cosine_similarity(in[0], in[1]); }, {a, b});
  }
}

TEST(CosineSimilarity, EachNormIsClampedSeparately) {
  // |a| = 5e-3 < eps = 1e-2 <= |b| = 5: cos = a·b / (eps |b|) = 0.025 / 0.05 = 0.5.
  // Gradients use the clamped norms as the norms: da = b/(eps |b|) - cos a/eps² = (45, 60),
  // db = a/(eps |b|) - cos b/|b|² = 0 (values PyTorch 1.13 gives).
  Tensor a = requiring_grad(Tensor::from_vector<float>({3e-3f, 4e-3f}, {1, 2}));
  Tensor b = requiring_grad(Tensor::from_vector<float>({3.0f, 4.0f}, {1, 2}));
  Tensor y = cosine_similarity(a, b, 1e-2f);
  EXPECT_NEAR(y.item(), 0.5f, 1e-6);
  y.backward(Tensor::ones({1}));
  std::vector<float> da = a.grad().to_vector<float>(), db = b.grad().to_vector<float>();
  EXPECT_NEAR(da[0], 45.0f, 1e-4);
  EXPECT_NEAR(da[1], 60.0f, 1e-4);
  EXPECT_NEAR(db[0], 0.0f, 1e-6);
  EXPECT_NEAR(db[1], 0.0f, 1e-6);
  // Both below eps: a·b / eps² = 25e-6 / 1e-4 (a joint clamp max(|a||b|, eps) would give 2.5e-3).
  Tensor tiny = Tensor::from_vector<float>({3e-3f, 4e-3f}, {1, 2});
  EXPECT_NEAR(cosine_similarity(tiny, tiny, 1e-2f).item(), 25e-6 / 1e-4, 1e-6);
  // A zero vector gives 0, not nan.
  EXPECT_EQ(cosine_similarity(Tensor::zeros({1, 3}), Tensor::ones({1, 3})).item(), 0.0f);
}

TEST(CosineSimilarity, LargeValuesStayFinite) {
  Tensor a = Tensor::from_vector<float>({1e4f, -1e4f, 3e4f}, {1, 3});
  EXPECT_NEAR(cosine_similarity(a, a).item(), 1.0f, 1e-6);
}

TEST(CosineSimilarity, RejectsBadArguments) {
  std::string msg = error_message([] { cosine_similarity(Tensor::zeros({2, 3}), Tensor::zeros({2, 4})); });
  EXPECT_TRUE(contains(msg, "cosine_similarity") && contains(msg, "(2, 3)") && contains(msg, "(2, 4)")) << msg;
  msg = error_message([] { cosine_similarity(Tensor::zeros({3}), Tensor::zeros({3})); });
  EXPECT_TRUE(contains(msg, "cosine_similarity") && contains(msg, "(3,)")) << msg;
  msg = error_message([] { cosine_similarity(Tensor::zeros({2, 3}, DType::Int32), Tensor::zeros({2, 3})); });
  EXPECT_TRUE(contains(msg, "cosine_similarity") && contains(msg, "int32")) << msg;
}

// ---- l2_normalize -----------------------------------------------------------------------------

TEST(L2Normalize, ForwardMatchesDoubleReference) {
  Generator gen(23);
  for (const Shape& shape : {Shape{4, 7}, Shape{2, 5, 3, 2}}) {
    Tensor x = random_normal(shape, gen, 3.0f);
    // Components of a unit vector, divided once in double and rounded to float.
    expect_close(l2_normalize(x), reference_normalize(x, 1e-12), 1e-7, 1e-6, "l2_normalize " + shape_str(shape));
  }
  EXPECT_EQ(l2_normalize(Tensor::from_vector<float>({3, 4}, {1, 2})).to_vector<float>(),
            (std::vector<float>{0.6f, 0.8f}));
}

TEST(L2Normalize, GradientsMatchFiniteDifferences) {
  Generator gen(24);
  for (const Shape& shape : {Shape{3, 4}, Shape{2, 3, 2, 2}}) {
    Tensor x = requiring_grad(random_normal(shape, gen, 2.0f));
    expect_gradients_match([](const std::vector<Tensor>& in) { return l2_normalize(in[0]); }, {x});
  }
}

TEST(L2Normalize, BelowEpsDividesByEps) {
  // |x| = 5e-3 < eps = 1e-2: y = x / eps, dy/dx = I / eps (the clamped norm is a constant).
  Tensor x = requiring_grad(Tensor::from_vector<float>({3e-3f, 4e-3f}, {1, 2}));
  Tensor y = l2_normalize(x, 1e-2f);
  std::vector<float> yv = y.to_vector<float>();
  EXPECT_NEAR(yv[0], 0.3f, 1e-6);
  EXPECT_NEAR(yv[1], 0.4f, 1e-6);
  y.backward(Tensor::from_vector<float>({1.0f, -2.0f}, {1, 2}));
  std::vector<float> g = x.grad().to_vector<float>();
  EXPECT_NEAR(g[0], 100.0f, 1e-4);
  EXPECT_NEAR(g[1], -200.0f, 1e-4);
  // A zero vector stays zero.
  EXPECT_EQ(l2_normalize(Tensor::zeros({1, 3})).to_vector<float>(), std::vector<float>(3, 0.0f));
}

TEST(L2Normalize, RejectsBadArguments) {
  std::string msg = error_message([] { l2_normalize(Tensor::zeros({5})); });
  EXPECT_TRUE(contains(msg, "l2_normalize") && contains(msg, "(5,)")) << msg;
  msg = error_message([] { l2_normalize(Tensor::zeros({2, 2}), 0.0f); });
  EXPECT_TRUE(contains(msg, "l2_normalize") && contains(msg, "eps")) << msg;
}

}  // namespace
}  // namespace xmkd
