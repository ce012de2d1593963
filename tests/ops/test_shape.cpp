// reshape / flatten (views), concat_channels, slice_channels, split_channels.
#include <gtest/gtest.h>

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


// x[n, c, i] of a tensor viewed as (N, C, inner).
float channel_at(const std::vector<float>& v, int64_t C, int64_t inner, int64_t n, int64_t c, int64_t i) {
  return v[(n * C + c) * inner + i];
}

TEST(Reshape, IsAViewWithTheSameData) {
  Generator gen(1);
  Tensor x = random_normal({2, 3, 4}, gen);
  Tensor y = reshape(x, {4, -1});
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(y.raw_data(), x.raw_data());
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(reshape(x, {-1}).shape(), (Shape{24}));
  EXPECT_EQ(reshape(x, {2, 12}).shape(), (Shape{2, 12}));
}

TEST(Reshape, GradientIsReshapedBack) {
  Generator gen(2);
  expect_gradients_match([](const std::vector<Tensor>& in) { return reshape(in[0], {3, -1, 2}); },
                         {requiring_grad(random_normal({2, 3, 4}, gen))});
  // Through a second op: the gradient must arrive in x's shape.
  Tensor x = requiring_grad(random_normal({2, 6}, gen));
  Tensor w = random_normal({3, 4}, gen);
  sum(mul(reshape(x, {3, 4}), w)).backward();
  EXPECT_EQ(x.grad().shape(), (Shape{2, 6}));
  EXPECT_EQ(x.grad().to_vector<float>(), w.to_vector<float>());
}

TEST(Reshape, RejectsBadShapes) {
  Tensor x = Tensor::zeros({2, 3, 4});
  expect_error_naming([&] { reshape(x, {5, -1}); }, "reshape");
  expect_error_naming([&] { reshape(x, {-1, -1}); }, "reshape", "-1");
  expect_error_naming([&] { reshape(x, {2, 3, 5}); }, "reshape");
  expect_error_naming([&] { reshape(x, {0, -1}); }, "reshape");
  expect_error_naming([&] { reshape(x, {-2, 12}); }, "reshape");
}

TEST(Flatten, KeepsTheBatchDim) {
  Generator gen(3);
  Tensor x = random_normal({2, 3, 4, 5}, gen);
  Tensor y = flatten(x);
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  expect_gradients_match([](const std::vector<Tensor>& in) { return flatten(in[0]); },
                         {requiring_grad(random_normal({2, 2, 3}, gen))});
  expect_error_naming([] { flatten(Tensor::zeros({5})); }, "flatten");
}

TEST(ConcatChannels, ForwardPlacesEachInputInItsBlock) {
  Generator gen(4);
  std::vector<Tensor> xs = {random_normal({2, 1, 3, 2}, gen), random_normal({2, 3, 3, 2}, gen),
                            random_normal({2, 2, 3, 2}, gen)};
  Tensor y = concat_channels(xs);
  ASSERT_EQ(y.shape(), (Shape{2, 6, 3, 2}));
  auto yv = y.to_vector<float>();
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    auto xv = x.to_vector<float>();
    const int64_t C = x.dim(1);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < 6; ++i)
          EXPECT_EQ(channel_at(yv, 6, 6, n, offset + c, i), channel_at(xv, C, 6, n, c, i));
    offset += C;
  }
  // (N,C) inputs.
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}), b = Tensor::from_vector<float>({5, 6}, {2, 1});
  EXPECT_EQ(concat_channels({a, b}).to_vector<float>(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
}

TEST(ConcatChannels, GradientsToEveryInput) {
  Generator gen(5);
  auto f = [](const std::vector<Tensor>& in) { return concat_channels(in); };
  expect_gradients_match(f, {requiring_grad(random_normal({2, 2, 2, 3}, gen)), requiring_grad(random_normal({2, 1, 2, 3}, gen)),
                             requiring_grad(random_normal({2, 3, 2, 3}, gen))});
  // An input that needs no gradient sits between two that do.
  Tensor data = random_normal({3, 2}, gen);
  auto g = [data](const std::vector<Tensor>& in) { return concat_channels({in[0], data, in[1]}); };
  expect_gradients_match(g, {requiring_grad(random_normal({3, 1}, gen)), requiring_grad(random_normal({3, 4}, gen))});
}

TEST(ConcatChannels, ErrorsNameTheMismatchingTensor) {
  Tensor a = Tensor::zeros({2, 3, 4, 4});
  expect_error_naming([&] { concat_channels({a, Tensor::zeros({2, 1, 4, 4}), Tensor::zeros({2, 1, 4, 5})}); },
                      "concat_channels", "tensor 2 has shape (2, 1, 4, 5) but tensor 0 has (2, 3, 4, 4)");
  expect_error_naming([&] { concat_channels({a, Tensor::zeros({3, 3, 4, 4})}); }, "concat_channels", "tensor 1");
  expect_error_naming([&] { concat_channels({a, Tensor::zeros({2, 3, 16})}); }, "concat_channels", "tensor 1");
  expect_error_naming([&] { concat_channels({}); }, "concat_channels");
  expect_error_naming([&] { concat_channels({a, Tensor::zeros({2, 3, 4, 4}, DType::Int32)}); }, "concat_channels",
                      "xs[1]");
}

TEST(SliceChannels, ForwardAndGradient) {
  Generator gen(6);
  Tensor x = random_normal({2, 5, 2, 2}, gen);
  Tensor y = slice_channels(x, 1, 4);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 2, 2}));
  auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(channel_at(yv, 3, 4, n, c, i), channel_at(xv, 5, 4, n, c + 1, i));
  expect_gradients_match([](const std::vector<Tensor>& in) { return slice_channels(in[0], 1, 4); },
                         {requiring_grad(x.clone())});
  expect_gradients_match([](const std::vector<Tensor>& in) { return slice_channels(in[0], 2, 3); },
                         {requiring_grad(random_normal({3, 4}, gen))});
}

TEST(SliceChannels, RejectsOutOfRange) {
  Tensor x = Tensor::zeros({2, 5});
  expect_error_naming([&] { slice_channels(x, 3, 6); }, "slice_channels");
  expect_error_naming([&] { slice_channels(x, -1, 2); }, "slice_channels");
  expect_error_naming([&] { slice_channels(x, 3, 2); }, "slice_channels");
  expect_error_naming([] { slice_channels(Tensor::zeros({5}), 0, 1); }, "slice_channels");
}

TEST(SplitChannels, PartsReassembleAndGradientsScatterBack) {
  Generator gen(7);
  Tensor x = random_normal({2, 6, 3}, gen);
  std::vector<Tensor> parts = split_channels(x, {1, 3, 2});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].shape(), (Shape{2, 3, 3}));
  expect_close(concat_channels(parts), x, 0, 0, "concat(split(x))");
  // A permutation of the parts: every gradient element must come back to its own channel.
  auto f = [](const std::vector<Tensor>& in) {
    std::vector<Tensor> p = split_channels(in[0], {1, 3, 2});
    return concat_channels({p[2], p[0], p[1]});
  };
  expect_gradients_match(f, {requiring_grad(x.clone())});
  // Only one part used: the other channels get zero gradient.
  Tensor xg = requiring_grad(x.clone());
  sum(split_channels(xg, {4, 2})[1]).backward();
  auto g = xg.grad().to_vector<float>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 6; ++c)
      for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(channel_at(g, 6, 3, n, c, i), c >= 4 ? 1.0f : 0.0f);
}

TEST(SplitChannels, SizesMustSumToTheChannels) {
  Tensor x = Tensor::zeros({2, 6, 3});
  expect_error_naming([&] { split_channels(x, {2, 3}); }, "split_channels", "6");
  expect_error_naming([&] { split_channels(x, {7, -1}); }, "split_channels");
}

}  // namespace
}  // namespace xmkd
