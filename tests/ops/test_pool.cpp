// Pooling and resizing: forward against direct loops (and hand or PyTorch values), finite-
// difference gradients, and argument errors, for max_pool2d, adaptive_avg_pool2d,
// global_avg_pool and upsample_bilinear.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::expect_close;
using testing::expect_gradients_match;
using testing::random_distinct;
using testing::random_normal;

// Applies f(plane_in, H, W, plane_out) to each (n, c) plane of x, producing (N, C, P, Q).
Tensor per_plane(const Tensor& x, int64_t P, int64_t Q,
                 const std::function<void(const float*, int64_t, int64_t, float*)>& f) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  std::vector<float> xs = x.to_vector<float>(), y(N * C * P * Q);
  for (int64_t plane = 0; plane < N * C; ++plane) f(xs.data() + plane * H * W, H, W, y.data() + plane * P * Q);
  return Tensor::from_vector(y, {N, C, P, Q});
}

Tensor naive_max_pool(const Tensor& x, int64_t k, int64_t stride, int64_t pad) {
  const int64_t P = (x.dim(2) + 2 * pad - k) / stride + 1, Q = (x.dim(3) + 2 * pad - k) / stride + 1;
  return per_plane(x, P, Q, [&](const float* in, int64_t H, int64_t W, float* out) {
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t h = p * stride - pad + i, w = q * stride - pad + j;
            if (h >= 0 && h < H && w >= 0 && w < W) best = std::max(best, in[h * W + w]);
          }
        out[p * Q + q] = best;
      }
  });
}

// Bins from real-valued bounds: [floor(i·H/P), ceil((i+1)·H/P)).
Tensor naive_adaptive_avg_pool(const Tensor& x, int64_t P, int64_t Q) {
  return per_plane(x, P, Q, [&](const float* in, int64_t H, int64_t W, float* out) {
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const auto h0 = static_cast<int64_t>(std::floor(p * double(H) / P));
        const auto h1 = static_cast<int64_t>(std::ceil((p + 1) * double(H) / P));
        const auto w0 = static_cast<int64_t>(std::floor(q * double(W) / Q));
        const auto w1 = static_cast<int64_t>(std::ceil((q + 1) * double(W) / Q));
        double sum = 0.0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += in[h * W + w];
        out[p * Q + q] = static_cast<float>(sum / double((h1 - h0) * (w1 - w0)));
      }
  });
}

// F.interpolate(bilinear, align_corners=False) from its definition, in double.
Tensor naive_upsample(const Tensor& x, int64_t P, int64_t Q) {
  auto tap = [](int64_t dst, int64_t in, int64_t out, int64_t& i0, int64_t& i1, double& lambda) {
    double src = std::max(0.0, (dst + 0.5) * double(in) / double(out) - 0.5);
    i0 = static_cast<int64_t>(std::floor(src));
    i1 = std::min(i0 + 1, in - 1);
    lambda = src - double(i0);
  };
  return per_plane(x, P, Q, [&](const float* in, int64_t H, int64_t W, float* out) {
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        int64_t h0, h1, w0, w1;
        double lh, lw;
        tap(p, H, P, h0, h1, lh);
        tap(q, W, Q, w0, w1, lw);
        out[p * Q + q] = static_cast<float>((1 - lh) * ((1 - lw) * in[h0 * W + w0] + lw * in[h0 * W + w1]) +
                                            lh * ((1 - lw) * in[h1 * W + w0] + lw * in[h1 * W + w1]));
      }
  });
}

void expect_error_naming(const std::function<void()>& call, const std::string& op, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "expected an error from " << op << " mentioning '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

// ---- max_pool2d ----

TEST(MaxPool2d, MatchesDirectLoops) {
  Generator gen(1);
  struct Case {
    Shape x;
    int k, stride, pad;
  };
  for (const Case& c : std::vector<Case>{{{2, 3, 7, 9}, 3, 2, 1},   // ResNet's stem pool, odd sizes
                                         {{1, 2, 8, 6}, 2, 2, 0},
                                         {{2, 1, 5, 7}, 3, 1, 1},   // overlapping windows
                                         {{1, 2, 9, 9}, 4, 3, 2}}) {
    SCOPED_TRACE(shape_str(c.x) + " k" + std::to_string(c.k) + " s" + std::to_string(c.stride));
    Tensor x = random_normal(c.x, gen);
    // The max is one of the inputs: exact equality.
    expect_close(max_pool2d(x, c.k, c.stride, c.pad), naive_max_pool(x, c.k, c.stride, c.pad), 0, 0, "max_pool2d");
  }
}

TEST(MaxPool2d, PaddingNeverWins) {
  // All inputs negative: a zero-valued padding would win every window (each overlaps it).
  // Windows cover rows/columns [-1, 1] and [1, 3]: the top-left real pixel of each is its max.
  Tensor x = Tensor::from_vector<float>({-1, -2, -3, -4, -5, -6, -7, -8, -9}, {1, 1, 3, 3});
  EXPECT_EQ(max_pool2d(x, 3, 2, 1).to_vector<float>(), (std::vector<float>{-1, -2, -4, -5}));
}

TEST(MaxPool2d, GradientGoesToTheMaximum) {
  Tensor x = Tensor::from_vector<float>({1, 5, 2, 0, 3, 4, 7, 6, 1, 2, 8, 0, 9, 3, 2, 1}, {1, 1, 4, 4})
                 .set_requires_grad(true);
  Tensor y = max_pool2d(x, 2, 2);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{5, 7, 9, 8}));
  y.backward(Tensor::from_vector<float>({10, 20, 30, 40}, {1, 1, 2, 2}));
  EXPECT_EQ(x.grad().to_vector<float>(),
            (std::vector<float>{0, 10, 0, 0, 0, 0, 20, 0, 0, 0, 40, 0, 30, 0, 0, 0}));
}

TEST(MaxPool2d, GradientsMatchFiniteDifferences) {
  // Distinct values 0.1 apart: a ±0.01 step never changes which element wins a window.
  Generator gen(2);
  struct Case {
    Shape x;
    int k, stride, pad;
  };
  for (const Case& c : std::vector<Case>{{{2, 2, 7, 9}, 3, 2, 1}, {{1, 2, 6, 5}, 3, 1, 1}, {{2, 1, 4, 6}, 2, 2, 0}}) {
    SCOPED_TRACE(shape_str(c.x));
    Tensor x = random_distinct(c.x, 0.1f, gen).set_requires_grad(true);
    expect_gradients_match([c](const std::vector<Tensor>& in) { return max_pool2d(in[0], c.k, c.stride, c.pad); },
                           {x});
  }
}

TEST(MaxPool2d, RejectsBadArguments) {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  expect_error_naming([&] { max_pool2d(Tensor::zeros({2, 4, 4}), 2, 2); }, "max_pool2d", "(2, 4, 4)");
  expect_error_naming([&] { max_pool2d(Tensor::zeros({1, 2, 4, 4}, DType::Int32), 2, 2); }, "max_pool2d", "float32");
  expect_error_naming([&] { max_pool2d(x, 5, 1); }, "max_pool2d", "(1, 2, 4, 4)");   // window larger than x
  expect_error_naming([&] { max_pool2d(x, 3, 1, 2); }, "max_pool2d", "padding 2");  // more than half the kernel
  expect_error_naming([&] { max_pool2d(x, 2, 0); }, "max_pool2d", "stride 0");
}

// ---- adaptive_avg_pool2d ----

TEST(AdaptiveAvgPool2d, MatchesBinsOfDirectLoops) {
  Generator gen(3);
  struct Case {
    Shape x;
    int P, Q;
  };
  for (const Case& c : std::vector<Case>{{{2, 3, 7, 5}, 3, 2},   // non-divisible: overlapping bins
                                         {{1, 2, 8, 8}, 4, 2},   // divisible
                                         {{1, 1, 3, 2}, 5, 4},   // more outputs than inputs
                                         {{2, 2, 6, 4}, 1, 1}}) {
    SCOPED_TRACE(shape_str(c.x) + " -> " + std::to_string(c.P) + "x" + std::to_string(c.Q));
    Tensor x = random_normal(c.x, gen);
    // Bins hold at most 4x3 values: float sums are within a few ulps of the double reference.
    expect_close(adaptive_avg_pool2d(x, c.P, c.Q), naive_adaptive_avg_pool(x, c.P, c.Q), 1e-6, 1e-6,
                 "adaptive_avg_pool2d");
  }
}

TEST(AdaptiveAvgPool2d, HandComputedBins) {
  // 1x5 row -> 1x3: bins [0,2), [1,4), [3,5)  ->  (1+2)/2, (2+3+4)/3, (4+5)/2
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5}, {1, 1, 1, 5});
  EXPECT_EQ(adaptive_avg_pool2d(x, 1, 3).to_vector<float>(), (std::vector<float>{1.5f, 3.0f, 4.5f}));
}

TEST(AdaptiveAvgPool2d, GradientsMatchFiniteDifferences) {
  Generator gen(4);
  Tensor x = random_normal({2, 2, 7, 5}, gen).set_requires_grad(true);
  expect_gradients_match([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 3, 2); }, {x});
  Tensor small = random_normal({1, 2, 3, 2}, gen).set_requires_grad(true);
  expect_gradients_match([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 5, 4); }, {small});
}

TEST(AdaptiveAvgPool2d, RejectsBadArguments) {
  expect_error_naming([] { adaptive_avg_pool2d(Tensor::zeros({4, 4}), 2, 2); }, "adaptive_avg_pool2d", "(4, 4)");
  expect_error_naming([] { adaptive_avg_pool2d(Tensor::zeros({1, 1, 4, 4}), 0, 2); }, "adaptive_avg_pool2d",
                      "(1, 1, 4, 4)");
  expect_error_naming([] { adaptive_avg_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::Int64), 2, 2); },
                      "adaptive_avg_pool2d", "float32");
}

// ---- global_avg_pool ----

TEST(GlobalAvgPool, MatchesMeanOverEachPlane) {
  Generator gen(5);
  Tensor x = random_normal({3, 4, 5, 7}, gen);
  Tensor y = global_avg_pool(x);
  ASSERT_EQ(y.shape(), (Shape{3, 4}));
  // The same bins as a 1x1 adaptive pool, computed here in double.
  expect_close(y.view({3, 4, 1, 1}), naive_adaptive_avg_pool(x, 1, 1), 1e-6, 1e-6, "global_avg_pool");
  Tensor hand = Tensor::from_vector<float>({1, 2, 3, 6, -1, -2, -3, -6}, {1, 2, 2, 2});
  EXPECT_EQ(global_avg_pool(hand).to_vector<float>(), (std::vector<float>{3.0f, -3.0f}));
}

TEST(GlobalAvgPool, GradientsMatchFiniteDifferences) {
  Generator gen(6);
  Tensor x = random_normal({2, 3, 5, 7}, gen).set_requires_grad(true);
  expect_gradients_match([](const std::vector<Tensor>& in) { return global_avg_pool(in[0]); }, {x});
}

TEST(GlobalAvgPool, RejectsBadArguments) {
  expect_error_naming([] { global_avg_pool(Tensor::zeros({2, 3})); }, "global_avg_pool", "(2, 3)");
  expect_error_naming([] { global_avg_pool(Tensor::zeros({1, 1, 2, 2}, DType::Int32)); }, "global_avg_pool",
                      "float32");
}

// ---- upsample_bilinear ----

TEST(UpsampleBilinear, MatchesPyTorchOnATinyCase) {
  // Produced with PyTorch 1.13 (/usr/bin/python3), printed with 9 significant digits:
  //   x = torch.tensor([[0.5, -1.25, 2.0, 3.5], [1.0, 0.25, -0.75, 4.0], [-2.0, 1.5, 0.125, -0.5]]).view(1, 1, 3, 4)
  //   F.interpolate(x, size=(5, 3), mode='bilinear', align_corners=False).flatten()
  //   F.interpolate(x, size=(2, 7), mode='bilinear', align_corners=False).flatten()
  Tensor x = Tensor::from_vector<float>({0.5f, -1.25f, 2.0f, 3.5f, 1.0f, 0.25f, -0.75f, 4.0f, -2.0f, 1.5f, 0.125f, -0.5f},
                                        {1, 1, 3, 4});
  Tensor up_down = Tensor::from_vector<float>(
      {0.208333299f, 0.375000179f, 3.25000024f, 0.474999994f, 0.125000045f, 3.23333359f, 0.874999821f, -0.24999997f,
       3.20833349f, -0.500000179f, 0.387500018f, 1.04583323f, -1.41666663f, 0.812499881f, -0.395833373f},
      {1, 1, 5, 3});
  Tensor down_up = Tensor::from_vector<float>(
      {0.625f, 0.0892856494f, -0.767857194f, 0.218750268f, 1.47767889f, 2.79910755f, 3.62500024f, -1.25f,
       -0.379464179f, 1.01339293f, 0.546874821f, -0.0424106307f, 0.368303686f, 0.625f},
      {1, 1, 2, 7});
  // The same float formula as PyTorch; only the summation order may differ: a few ulps of ~4.
  expect_close(upsample_bilinear(x, 5, 3), up_down, 2e-6, 0, "upsample_bilinear 3x4 -> 5x3");
  expect_close(upsample_bilinear(x, 2, 7), down_up, 2e-6, 0, "upsample_bilinear 3x4 -> 2x7");
}

TEST(UpsampleBilinear, MatchesTheDefinition) {
  Generator gen(7);
  struct Case {
    Shape x;
    int P, Q;
  };
  for (const Case& c : std::vector<Case>{{{2, 3, 5, 7}, 11, 3}, {{1, 2, 4, 4}, 8, 8}, {{1, 1, 9, 6}, 4, 13},
                                         {{1, 2, 3, 5}, 3, 5}}) {
    SCOPED_TRACE(shape_str(c.x) + " -> " + std::to_string(c.P) + "x" + std::to_string(c.Q));
    Tensor x = random_normal(c.x, gen);
    // The kernel computes source coordinates in float (as PyTorch): λ is off by up to ~u·in = 1e-6,
    // times a neighbour difference of a few units.
    expect_close(upsample_bilinear(x, c.P, c.Q), naive_upsample(x, c.P, c.Q), 1e-5, 1e-6, "upsample_bilinear");
  }
}

TEST(UpsampleBilinear, GradientsMatchFiniteDifferences) {
  Generator gen(8);
  Tensor x = random_normal({1, 2, 5, 7}, gen).set_requires_grad(true);
  expect_gradients_match([](const std::vector<Tensor>& in) { return upsample_bilinear(in[0], 11, 3); }, {x});
  Tensor y = random_normal({2, 1, 4, 4}, gen).set_requires_grad(true);
  expect_gradients_match([](const std::vector<Tensor>& in) { return upsample_bilinear(in[0], 3, 9); }, {y});
}

TEST(UpsampleBilinear, RejectsBadArguments) {
  expect_error_naming([] { upsample_bilinear(Tensor::zeros({1, 4, 4}), 8, 8); }, "upsample_bilinear", "(1, 4, 4)");
  expect_error_naming([] { upsample_bilinear(Tensor::zeros({1, 1, 4, 4}), 8, -1); }, "upsample_bilinear",
                      "(1, 1, 4, 4)");
  expect_error_naming([] { upsample_bilinear(Tensor::zeros({1, 1, 4, 4}, DType::Int32), 8, 8); },
                      "upsample_bilinear", "float32");
}

}  // namespace
}  // namespace xmkd
