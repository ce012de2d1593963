// conv2d: forward and backward against direct loops on awkward shapes (every GEMM path: grouped
// im2col GEMM with a partial last group, pointwise direct GEMM, strided 1x1), finite-difference
// gradients, gradient skipping and argument errors. The Winograd path of 3x3 stride-1 convs has
// its own tests in test_conv_winograd.cpp; the shapes here stay on the GEMM path.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cpu/conv2d.h"
#include "tests/ops/conv_reference.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::accumulation_atol;
using testing::ConvGeometry;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::geometry_of;
using testing::naive_conv2d;
using testing::naive_conv2d_backward;
using testing::random_normal;

struct ConvCase {
  int64_t N, C, H, W, K, R, S;
  Conv2dOptions options;
  bool bias;
  std::string name;
};

std::vector<ConvCase> awkward_cases() {
  Conv2dOptions pad1{1, 1, 1}, s2p3{2, 3, 1}, dil2{1, 2, 2}, s2p1{2, 1, 1}, plain{1, 0, 1}, s2{2, 0, 1};
  Conv2dOptions s2p1d2{2, 1, 2}, pad3{1, 3, 1};
  return {
      {1, 3, 7, 9, 4, 3, 3, pad1, true, "batch 1, 3 channels, odd 7x9, 3x3 pad 1"},
      {2, 5, 11, 13, 3, 7, 7, s2p3, true, "5 channels, 7x7 stride 2 pad 3"},
      {2, 3, 9, 7, 4, 3, 3, dil2, false, "3x3 dilation 2 pad 2"},
      {3, 2, 7, 9, 5, 3, 5, s2p1, true, "non-square 3x5 kernel, stride 2"},
      {2, 3, 6, 5, 2, 2, 1, plain, true, "non-square 2x1 kernel, no padding"},
      {3, 5, 7, 9, 4, 1, 1, plain, true, "pointwise on a small map (grouped GEMM)"},
      {2, 4, 7, 9, 6, 1, 1, s2, false, "1x1 stride 2 (downsample)"},
      {2, 3, 10, 11, 2, 3, 2, s2p1d2, true, "stride 2 dilation 2 non-square"},
      {2, 2, 4, 3, 3, 3, 3, pad3, true, "padding wider than the kernel reach"},
  };
}

Conv2dGeometry kernel_geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                               const Conv2dOptions& o) {
  Conv2dGeometry g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.K = K, g.R = R, g.S = S;
  g.stride = o.stride, g.pad = o.padding, g.dilation = o.dilation;
  g.P = (H + 2 * o.padding - o.dilation * (R - 1) - 1) / o.stride + 1;
  g.Q = (W + 2 * o.padding - o.dilation * (S - 1) - 1) / o.stride + 1;
  return g;
}

void check_against_direct_loops(const ConvCase& cc) {
  SCOPED_TRACE(cc.name);
  ASSERT_FALSE(cpu::conv2d_uses_winograd(kernel_geometry(cc.N, cc.C, cc.H, cc.W, cc.K, cc.R, cc.S, cc.options)))
      << "a GEMM-path case now runs Winograd: pick a shape the path rule keeps on the GEMM path";
  Generator gen(42);
  Tensor x = random_normal({cc.N, cc.C, cc.H, cc.W}, gen).set_requires_grad(true);
  const int64_t taps = cc.C * cc.R * cc.S;
  Tensor w = random_normal({cc.K, cc.C, cc.R, cc.S}, gen, 1.0f / std::sqrt(static_cast<float>(taps)));
  w.set_requires_grad(true);
  Tensor b = cc.bias ? random_normal({cc.K}, gen).set_requires_grad(true) : Tensor();

  Tensor y = conv2d(x, w, b, cc.options);
  Tensor expected = naive_conv2d(x, w, b, cc.options);
  expect_close(y, expected, accumulation_atol(taps, 1.0 / std::sqrt(taps)), 1e-6, "conv2d forward");

  Tensor dy = random_normal(y.shape(), gen);
  y.backward(dy);
  Tensor dx, dw, db;
  naive_conv2d_backward(x, w, dy, cc.options, dx, dw, db);
  const ConvGeometry g = geometry_of(x, w, cc.options);
  // dx sums K·R·S products dy·w; dw sums N·P·Q products dy·x; db sums N·P·Q values of dy.
  expect_close(x.grad(), dx, accumulation_atol(cc.K * cc.R * cc.S, 1.0 / std::sqrt(taps)), 1e-6, "conv2d dx");
  expect_close(w.grad(), dw, accumulation_atol(g.N * g.P * g.Q, 1.0), 1e-6, "conv2d dw");
  if (cc.bias) expect_close(b.grad(), db, accumulation_atol(g.N * g.P * g.Q, 1.0), 1e-6, "conv2d db");
}

TEST(Conv2d, ForwardAndBackwardMatchDirectLoopsOnAwkwardShapes) {
  for (const ConvCase& cc : awkward_cases()) check_against_direct_loops(cc);
}

TEST(Conv2d, SeveralImageGroupsWithAPartialLastGroup) {
  // 32x32 outputs: few images fill a GEMM, so a batch of 2·group + 1 runs three GEMMs, the last
  // one with a single image.
  const Conv2dOptions pad1{1, 1, 1};
  const int64_t group = cpu::conv2d_images_per_gemm(kernel_geometry(64, 2, 32, 32, 3, 3, 3, pad1));
  const int64_t N = 2 * group + 1;
  ASSERT_GE(group, 1);
  ASSERT_FALSE(cpu::conv2d_is_direct_gemm(kernel_geometry(N, 2, 32, 32, 3, 3, 3, pad1)));
  check_against_direct_loops({N, 2, 32, 32, 3, 3, 3, pad1, true, "grouped GEMM, partial last group"});
}

TEST(Conv2d, PointwiseConvOnALargeMapUsesTheDirectGemm) {
  const Conv2dOptions plain{1, 0, 1};
  ASSERT_TRUE(cpu::conv2d_is_direct_gemm(kernel_geometry(2, 5, 48, 48, 4, 1, 1, plain)))
      << "48x48 should fill a GEMM by itself; enlarge the map if the group target grew";
  EXPECT_EQ(cpu::conv2d_workspace_size(kernel_geometry(2, 5, 48, 48, 4, 1, 1, plain)), 0);
  check_against_direct_loops({2, 5, 48, 48, 4, 1, 1, plain, true, "pointwise direct GEMM"});
}

TEST(Conv2d, HandComputedValues) {
  // x = 1..9 as a 3x3 image, w = [[1, 0], [0, -1]], bias 0.5: y[p,q] = x[p,q] - x[p+1,q+1] + 0.5 = -3.5
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = Tensor::from_vector<float>({1, 0, 0, -1}, {1, 1, 2, 2});
  Tensor b = Tensor::from_vector<float>({0.5f}, {1});
  EXPECT_EQ(conv2d(x, w, b).to_vector<float>(), (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));
  // padding 1, stride 2: windows start at rows/columns -1 and 1; a tap on the padding reads 0:
  // (-1,-1): -x[0,0]   (-1,1): -x[0,2]   (1,-1): -x[2,0]   (1,1): x[1,1] - x[2,2]   (each + 0.5)
  EXPECT_EQ(conv2d(x, w, b, {2, 1, 1}).to_vector<float>(), (std::vector<float>{-0.5f, -2.5f, -6.5f, -3.5f}));
}

TEST(Conv2d, GradientsMatchFiniteDifferences) {
  Generator gen(7);
  struct Small {
    Shape x, w;
    Conv2dOptions options;
    bool bias;
  };
  const std::vector<Small> cases = {
      {{2, 3, 5, 6}, {4, 3, 3, 2}, {2, 1, 1}, true},    // stride 2, pad 1, non-square kernel
      {{1, 2, 7, 6}, {3, 2, 2, 3}, {1, 2, 2}, true},    // dilation 2
      {{2, 4, 5, 5}, {3, 4, 1, 1}, {2, 0, 1}, false},   // strided 1x1
      {{2, 3, 4, 5}, {2, 3, 1, 1}, {1, 0, 1}, true},    // pointwise
  };
  for (const Small& sc : cases) {
    SCOPED_TRACE(shape_str(sc.x) + " * " + shape_str(sc.w));
    Tensor x = random_normal(sc.x, gen).set_requires_grad(true);
    Tensor w = random_normal(sc.w, gen).set_requires_grad(true);
    Tensor b = sc.bias ? random_normal({sc.w[0]}, gen).set_requires_grad(true) : Tensor();
    const Conv2dOptions o = sc.options;
    expect_gradients_match([o](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], o); }, {x, w, b});
  }
}

TEST(Conv2d, SkipsGradientsNobodyNeeds) {
  Generator gen(3);
  Tensor x = random_normal({2, 3, 6, 6}, gen);   // an input image: no dx
  Tensor w = random_normal({4, 3, 3, 3}, gen).set_requires_grad(true);
  Tensor b = random_normal({4}, gen);            // frozen bias
  Tensor y = conv2d(x, w, b, {1, 1, 1});
  Tensor dy = random_normal(y.shape(), gen);
  y.backward(dy);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  Tensor dx, dw, db;
  naive_conv2d_backward(x, w, dy, {1, 1, 1}, dx, dw, db);
  expect_close(w.grad(), dw, accumulation_atol(2 * 36, 1.0), 1e-6, "conv2d dw without dx");

  // A frozen weight (a teacher): only dx flows.
  Tensor x2 = random_normal({2, 3, 6, 6}, gen).set_requires_grad(true);
  Tensor w2 = random_normal({4, 3, 3, 3}, gen);
  Tensor y2 = conv2d(x2, w2, Tensor(), {1, 1, 1});
  y2.backward(dy);
  EXPECT_FALSE(w2.grad().defined());
  naive_conv2d_backward(x2, w2, dy, {1, 1, 1}, dx, dw, db);
  expect_close(x2.grad(), dx, accumulation_atol(4 * 9, 1.0), 1e-6, "conv2d dx without dw");

  NoGradGuard no_grad;
  EXPECT_FALSE(conv2d(x2, w, b, {1, 1, 1}).requires_grad());
}

void expect_conv_error(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o,
                       const std::string& fragment) {
  try {
    conv2d(x, w, b, o);
    ADD_FAILURE() << "expected an error mentioning '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

TEST(Conv2d, RejectsBadArgumentsNamingTheShapes) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  Tensor w = Tensor::zeros({4, 3, 3, 3});
  Tensor b = Tensor::zeros({4});
  expect_conv_error(Tensor::zeros({3, 8, 8}), w, b, {}, "(3, 8, 8)");                       // x not 4-d
  expect_conv_error(x, Tensor::zeros({4, 3, 3}), b, {}, "(4, 3, 3)");                       // weight not 4-d
  expect_conv_error(x, Tensor::zeros({4, 5, 3, 3}), b, {}, "(4, 5, 3, 3)");                 // channel mismatch
  expect_conv_error(x, w, Tensor::zeros({5}), {}, "(5,)");                                  // bias size
  expect_conv_error(x, w, Tensor::zeros({4, 1}), {}, "(4, 1)");                             // bias rank
  expect_conv_error(Tensor::zeros({2, 3, 2, 2}), w, b, {}, "(2, 3, 2, 2)");                 // output 0x0
  expect_conv_error(x, Tensor::zeros({4, 3, 3, 3}), b, {1, 0, 4}, "dilation 4");            // dilated too far
  expect_conv_error(x, w, b, {0, 0, 1}, "stride 0");
  expect_conv_error(Tensor::zeros({2, 3, 8, 8}, DType::Int32), w, b, {}, "float32");        // dtype
  expect_conv_error(x, Tensor::zeros({4, 3, 3, 3}, DType::Int64), b, {}, "float32");
}

}  // namespace
}  // namespace xmkd
