// The tape itself, with test-local ops built directly on record(), independent of engine/ops.
#include <gtest/gtest.h>

#include "engine/autograd.h"

namespace xmkd {
namespace {

// y = x², backward 2x·g
Tensor square(const Tensor& x) {
  Tensor y = Tensor::empty_like(x);
  auto xs = x.to_vector<float>();
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = xs[i] * xs[i];
  Tensor saved = x.detach();
  record("square", y, {x}, [saved](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    for (int64_t i = 0; i < g.numel(); ++i) gx.data<float>()[i] = 2 * saved.data<float>()[i] * g.data<float>()[i];
    return GradList{gx};
  });
  return y;
}

// y = a + b, backward passes g to both (the same tensor: exercises gradient aliasing)
Tensor plus(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty_like(a);
  for (int64_t i = 0; i < a.numel(); ++i) y.data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
  record("plus", y, {a, b}, [](const Tensor& g) { return GradList{g, g}; });
  return y;
}

Tensor total(const Tensor& x) {
  float s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += x.data<float>()[i];
  Tensor y = Tensor::scalar(s);
  Shape shape = x.shape();
  record("total", y, {x}, [shape](const Tensor& g) { return GradList{Tensor::full(shape, g.item())}; });
  return y;
}

TEST(Autograd, ChainRuleThroughSharedSubexpression) {
  // L = sum((x² + x²)) = 2 Σ x²  ->  dL/dx = 4x; the node square is used twice by plus.
  Tensor x = Tensor::from_vector<float>({1, -2, 3}, {3}).set_requires_grad(true);
  Tensor s = square(x);
  total(plus(s, s)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{4, -8, 12}));
}

TEST(Autograd, LeafGradientsAccumulateUntilZeroGrad) {
  Tensor x = Tensor::from_vector<float>({1, 2}, {2}).set_requires_grad(true);
  total(square(x)).backward();
  total(square(x)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{4, 8}));
  x.zero_grad();
  total(square(x)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 4}));
}

TEST(Autograd, AliasedGradientsToTwoLeavesStayIndependent) {
  Tensor a = Tensor::from_vector<float>({1, 1}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector<float>({1, 1}, {2}).set_requires_grad(true);
  total(plus(a, b)).backward();
  total(square(a)).backward();   // a.grad += 2a must not leak into b.grad
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, 3}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::from_vector<float>({1}, {1}).set_requires_grad(true);
  {
    NoGradGuard guard;
    Tensor y = square(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
  }
  EXPECT_TRUE(square(x).requires_grad());
}

TEST(Autograd, SecondBackwardWithoutRetainGraphIsAClearError) {
  Tensor x = Tensor::from_vector<float>({1}, {1}).set_requires_grad(true);
  Tensor y = total(square(x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor x = Tensor::from_vector<float>({3}, {1}).set_requires_grad(true);
  Tensor y = total(square(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(x.grad().item(), 12.0f);
}

TEST(Autograd, NonScalarBackwardNeedsAGradient) {
  Tensor x = Tensor::from_vector<float>({1, 2}, {2}).set_requires_grad(true);
  Tensor y = square(x);
  EXPECT_THROW(y.backward(), Error);
  y.backward(Tensor::from_vector<float>({1, 10}, {2}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 40}));
}

TEST(Autograd, BackwardOnATensorWithoutHistoryIsAnError) {
  Tensor x = Tensor::from_vector<float>({1}, {1});
  EXPECT_THROW(x.backward(), Error);
}

TEST(Autograd, RecordingKeepsNoNonLeafInputAlive) {
  // The edge to a non-leaf input refers to its producer node, not to its storage.
  Tensor x = Tensor::from_vector<float>({1, 2}, {2}).set_requires_grad(true);
  Tensor s = square(x);
  std::weak_ptr<Storage> storage = s.impl()->storage;
  Tensor y = plus(s, s);   // plus captures nothing
  s = Tensor();
  EXPECT_TRUE(storage.expired());
  total(y).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{4, 8}));
}

}  // namespace
}  // namespace xmkd
