// add, sub, mul, scale, relu, add_relu: forward against double loops, gradients by finite
// differences, the documented broadcasts (per-channel bias, one-element scalar) and their errors.
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
using testing::random_away_from_zero;
using testing::random_normal;

// Expected values computed in double, element by element, from the float inputs.
Tensor expected_from(const Shape& shape, const std::function<double(int64_t)>& value) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(value(static_cast<int64_t>(i)));
  return Tensor::from_vector(v, shape);
}


TEST(Add, SameShapeMatchesElementwiseSum) {
  Generator gen(1);
  Tensor a = random_normal({2, 3, 4}, gen), b = random_normal({2, 3, 4}, gen);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  expect_close(add(a, b), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) + bv[i]; }), 1e-6, 1e-6,
               "add");
}

TEST(Add, ChannelBiasIsAddedToEveryPositionOfItsChannel) {
  Generator gen(2);
  Tensor a = random_normal({2, 3, 2, 5}, gen), b = random_normal({3}, gen);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  expect_close(add(a, b), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) + bv[(i / 10) % 3]; }), 1e-6,
               1e-6, "add bias (N,C,H,W)");
  Tensor a2 = random_normal({4, 3}, gen);
  auto a2v = a2.to_vector<float>();
  expect_close(add(a2, b), expected_from(a2.shape(), [&](int64_t i) { return double(a2v[i]) + bv[i % 3]; }), 1e-6,
               1e-6, "add bias (N,C)");
}

TEST(Add, OneElementTensorIsAScalar) {
  Generator gen(3);
  Tensor a = random_normal({2, 5}, gen);
  auto av = a.to_vector<float>();
  for (const Shape& s : {Shape{}, Shape{1}, Shape{1, 1}}) {
    Tensor b = Tensor::full(s, 0.75f);
    expect_close(add(a, b), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) + 0.75; }), 1e-6, 1e-6,
                 "add scalar " + shape_str(s));
  }
}

TEST(Add, GradientsForEveryBroadcast) {
  Generator gen(4);
  auto f = [](const std::vector<Tensor>& in) { return add(in[0], in[1]); };
  expect_gradients_match(f, {requiring_grad(random_normal({2, 3}, gen)), requiring_grad(random_normal({2, 3}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({2, 3, 2, 2}, gen)), requiring_grad(random_normal({3}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({5, 4}, gen)), requiring_grad(random_normal({4}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({3, 130}, gen)), requiring_grad(random_normal({130}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({2, 3, 2}, gen)), requiring_grad(random_normal({}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({2, 3, 2}, gen)), requiring_grad(random_normal({1}, gen))});
}

TEST(Add, BiasGradientIsTheChannelSumOnLargeInputs) {
  // Large enough for the kernels' parallel paths, C not a multiple of the (N,C) column block.
  Generator gen(13);
  for (const Shape& shape : {Shape{300, 200}, Shape{8, 70, 16, 16}}) {
    const int64_t N = shape[0], C = shape[1], inner = shape_numel(shape) / (N * C);
    Tensor b = requiring_grad(random_normal({C}, gen));
    Tensor u = random_normal(shape, gen);
    add(random_normal(shape, gen), b).backward(u);
    auto uv = u.to_vector<float>();
    std::vector<float> expected(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < inner; ++i) s += uv[(n * C + c) * inner + i];
      expected[c] = static_cast<float>(s);
    }
    expect_close(b.grad(), Tensor::from_vector(expected, {C}), 1e-5, 1e-6, "bias gradient " + shape_str(shape));
  }
}

TEST(Add, AliasedOperandsGetTwiceTheGradient) {
  Generator gen(5);
  Tensor x = requiring_grad(random_normal({3, 4}, gen));
  Tensor u = random_normal({3, 4}, gen);
  add(x, x).backward(u);
  auto g = x.grad().to_vector<float>(), uv = u.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], 2 * uv[i]) << i;
}

TEST(Add, OnlyTheInputsThatRequireGradGetOne) {
  Generator gen(6);
  Tensor a = random_normal({2, 3}, gen);
  Tensor b = requiring_grad(random_normal({3}, gen));
  sum(add(a, b)).backward();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{2, 2, 2}));
  EXPECT_FALSE(add(a, a).requires_grad());
}

TEST(Add, RejectsOtherShapesAndDtypes) {
  Tensor a = Tensor::zeros({2, 3, 4});
  expect_error_naming([&] { add(a, Tensor::zeros({4})); }, "add");      // (C) must match dim 1
  expect_error_naming([&] { add(a, Tensor::zeros({2, 3})); }, "add");
  expect_error_naming([&] { add(Tensor::zeros({3}), Tensor::zeros({2})); }, "add");
  expect_error_naming([&] { add(a, Tensor::zeros({2, 3, 4}, DType::Int64)); }, "add");
}

TEST(Sub, ForwardAndGradients) {
  Generator gen(7);
  Tensor a = random_normal({3, 2, 2}, gen), b = random_normal({3, 2, 2}, gen);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  expect_close(sub(a, b), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) - bv[i]; }), 1e-6, 1e-6,
               "sub");
  expect_gradients_match([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); },
                         {requiring_grad(a.clone()), requiring_grad(b.clone())});
  Tensor x = requiring_grad(random_normal({4}, gen));
  sum(sub(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0, 0, 0}));
}

TEST(Sub, RejectsDifferentShapes) {
  expect_error_naming([] { sub(Tensor::zeros({2, 3}), Tensor::zeros({3})); }, "sub");
  expect_error_naming([] { sub(Tensor::zeros({2, 3}), Tensor::zeros({})); }, "sub");
}

TEST(Mul, SameShapeAndScalarForward) {
  Generator gen(8);
  Tensor a = random_normal({2, 3, 3}, gen), b = random_normal({2, 3, 3}, gen);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  expect_close(mul(a, b), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) * bv[i]; }), 1e-6, 1e-6,
               "mul");
  Tensor s = Tensor::scalar(-1.5f);
  expect_close(mul(a, s), expected_from(a.shape(), [&](int64_t i) { return double(av[i]) * -1.5; }), 1e-6, 1e-6,
               "mul scalar");
}

TEST(Mul, Gradients) {
  Generator gen(9);
  auto f = [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); };
  expect_gradients_match(f, {requiring_grad(random_normal({2, 3, 2}, gen)), requiring_grad(random_normal({2, 3, 2}, gen))});
  // A learnable scalar factor: d/ds = Σ a·g.
  expect_gradients_match(f, {requiring_grad(random_normal({4, 5}, gen)), requiring_grad(random_normal({}, gen))});
  expect_gradients_match(f, {requiring_grad(random_normal({4, 5}, gen)), requiring_grad(random_normal({1}, gen))});
  // x·x: both edges reach the same leaf, 2x·g in total.
  expect_gradients_match([](const std::vector<Tensor>& in) { return mul(in[0], in[0]); },
                         {requiring_grad(random_normal({3, 3}, gen))});
}

TEST(Mul, RejectsAChannelVector) {
  // mul documents no per-channel broadcast.
  expect_error_naming([] { mul(Tensor::zeros({2, 3}), Tensor::zeros({3})); }, "mul");
  expect_error_naming([] { mul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}, DType::Int32)); }, "mul");
}

TEST(Scale, ForwardAndGradient) {
  Generator gen(10);
  Tensor x = random_normal({3, 4}, gen);
  auto xv = x.to_vector<float>();
  expect_close(scale(x, 2.5f), expected_from(x.shape(), [&](int64_t i) { return 2.5 * xv[i]; }), 1e-6, 1e-6, "scale");
  expect_gradients_match([](const std::vector<Tensor>& in) { return scale(in[0], -0.7f); }, {requiring_grad(x.clone())});
  expect_error_naming([] { scale(Tensor::zeros({2}, DType::Int64), 2.0f); }, "scale");
}

TEST(Relu, ForwardAndGradientAwayFromTheKink) {
  Generator gen(11);
  // |x| >= 0.05 > step 1e-2: no finite difference straddles 0.
  Tensor x = random_away_from_zero({2, 3, 4}, 0.05f, 1.0f, gen);
  auto xv = x.to_vector<float>();
  expect_close(relu(x), expected_from(x.shape(), [&](int64_t i) { return xv[i] > 0 ? xv[i] : 0.0; }), 0, 0, "relu");
  expect_gradients_match([](const std::vector<Tensor>& in) { return relu(in[0]); }, {requiring_grad(x.clone())});
}

TEST(Relu, GradientAtExactlyZeroIsZero) {
  // The mask comes from the saved output: y = 0 passes no gradient (PyTorch's convention).
  Tensor x = requiring_grad(Tensor::from_vector<float>({-1, 0, 2}, {3}));
  relu(x).backward(Tensor::from_vector<float>({5, 6, 7}, {3}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0, 7}));
}

TEST(AddRelu, ForwardAndGradientsAwayFromTheKink) {
  Generator gen(12);
  // a + b = target with |target| >= 0.05, while a and b separately are arbitrary.
  Tensor target = random_away_from_zero({2, 3, 2, 2}, 0.05f, 1.0f, gen);
  Tensor b = random_normal(target.shape(), gen);
  Tensor a = sub(target, b);
  auto av = a.to_vector<float>(), bv = b.to_vector<float>();
  expect_close(add_relu(a, b), expected_from(a.shape(), [&](int64_t i) {
                 float s = av[i] + bv[i];
                 return s > 0 ? s : 0.0f;
               }),
               0, 0, "add_relu");
  expect_gradients_match([](const std::vector<Tensor>& in) { return add_relu(in[0], in[1]); },
                         {requiring_grad(a.clone()), requiring_grad(b.clone())});
}

TEST(AddRelu, RejectsDifferentShapes) {
  expect_error_naming([] { add_relu(Tensor::zeros({2, 3}), Tensor::zeros({3})); }, "add_relu");
}

}  // namespace
}  // namespace xmkd
