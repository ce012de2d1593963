// conv2d's Winograd F(m x m, 3x3) path (kernels/cpu/conv2d_winograd.cpp): the three kernels called
// directly, with 2x2 and with 4x4 output tiles, against the direct loops on awkward shapes (odd
// sizes, so the last tiles are clipped; batch 1; 3, 5 and 64 channels; padding 0, 1 and 2;
// several groups of images), the path rule and its choice of tile,
// the op running that path bit for bit, and finite-difference gradients through the op.
// Tolerances: winograd_atol / winograd_dw_atol in tests/ops/conv_reference.h derive them from the
// transforms' rounding chain and coefficient growth.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cpu/conv2d.h"
#include "tests/ops/conv_reference.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::expect_close;
using testing::expect_gradients_match;
using testing::GradcheckOptions;
using testing::naive_conv2d;
using testing::naive_conv2d_backward;
using testing::random_normal;
using testing::winograd_atol;
using testing::winograd_dw_atol;

struct Conv3x3Case {
  int64_t N, C, H, W, K;
  int pad;
  std::string name;
};

Conv2dGeometry geometry(const Conv3x3Case& cc) {
  Conv2dGeometry g;
  g.N = cc.N, g.C = cc.C, g.H = cc.H, g.W = cc.W, g.K = cc.K, g.R = 3, g.S = 3;
  g.stride = 1, g.pad = cc.pad, g.dilation = 1;
  g.P = cc.H + 2 * cc.pad - 2;
  g.Q = cc.W + 2 * cc.pad - 2;
  return g;
}

int64_t tiles_of(const Conv2dGeometry& g, int64_t m) { return g.N * ((g.P + m - 1) / m) * ((g.Q + m - 1) / m); }

// Scratch space of exactly the advertised size followed by a guard band the kernels must not touch.
class Workspace {
 public:
  explicit Workspace(int64_t floats) : size_(floats), data_(floats + kGuard, kSentinel) {}
  float* data() { return data_.data(); }
  void expect_guard_intact(const std::string& what) const {
    for (int64_t i = size_; i < size_ + kGuard; ++i)
      if (data_[i] != kSentinel) {
        ADD_FAILURE() << what << " wrote past its workspace of " << size_ << " floats, at " << i;
        return;
      }
  }

 private:
  static constexpr int64_t kGuard = 4096;
  static constexpr float kSentinel = -1.25e30f;
  int64_t size_;
  std::vector<float> data_;
};

// The kernels with output tiles m (2 or 4); the op's choice when m is 0.
int64_t tile_or_chosen(const Conv2dGeometry& g, int64_t m) { return m ? m : cpu::conv2d_winograd_tile(g); }

std::vector<float> run_forward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w, const Tensor& b,
                               int64_t m = 0) {
  m = tile_or_chosen(g, m);
  std::vector<float> y(g.N * g.K * g.P * g.Q);
  Workspace ws(cpu::conv2d_winograd_workspace_size(g, m));
  cpu::conv2d_forward_winograd(g, m, x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                               y.data(), ws.data());
  ws.expect_guard_intact("conv2d_forward_winograd");
  return y;
}

std::vector<float> run_backward_data(const Conv2dGeometry& g, const Tensor& dy, const Tensor& w, int64_t m = 0) {
  m = tile_or_chosen(g, m);
  std::vector<float> dx(g.N * g.C * g.H * g.W);
  Workspace ws(cpu::conv2d_winograd_workspace_size(g, m));
  cpu::conv2d_backward_data_winograd(g, m, dy.data<float>(), w.data<float>(), dx.data(), ws.data());
  ws.expect_guard_intact("conv2d_backward_data_winograd");
  return dx;
}

std::vector<float> run_backward_weight(const Conv2dGeometry& g, const Tensor& x, const Tensor& dy, int64_t m = 0) {
  m = tile_or_chosen(g, m);
  std::vector<float> dw(g.K * g.C * 9);
  Workspace ws(cpu::conv2d_winograd_workspace_size(g, m));
  cpu::conv2d_backward_weight_winograd(g, m, x.data<float>(), dy.data<float>(), dw.data(), ws.data());
  ws.expect_guard_intact("conv2d_backward_weight_winograd");
  return dw;
}

Tensor as_tensor(const std::vector<float>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }

// x, dy ~ N(0, 1) and w ~ N(0, 1/(9C)): products w·x, w·dy have rms 1/√(9C), dy·x has rms 1.
void check_kernels_against_direct_loops(const Conv3x3Case& cc, int64_t m) {
  SCOPED_TRACE(cc.name + ", " + std::to_string(m) + "x" + std::to_string(m) + " tiles");
  const Conv2dGeometry g = geometry(cc);
  const Conv2dOptions o{1, cc.pad, 1};
  const double w_scale = 1.0 / std::sqrt(9.0 * cc.C);
  Generator gen(11);
  Tensor x = random_normal({cc.N, cc.C, cc.H, cc.W}, gen);
  Tensor w = random_normal({cc.K, cc.C, 3, 3}, gen, static_cast<float>(w_scale));
  Tensor b = random_normal({cc.K}, gen);
  Tensor dy = random_normal({cc.N, cc.K, g.P, g.Q}, gen);

  expect_close(as_tensor(run_forward(g, x, w, b, m), {g.N, g.K, g.P, g.Q}), naive_conv2d(x, w, b, o),
               winograd_atol(cc.C, w_scale, m), 1e-6, "winograd forward");
  Tensor dx, dw, db;
  naive_conv2d_backward(x, w, dy, o, dx, dw, db);
  expect_close(as_tensor(run_backward_data(g, dy, w, m), x.shape()), dx, winograd_atol(cc.K, w_scale, m), 1e-6,
               "winograd dx");
  expect_close(as_tensor(run_backward_weight(g, x, dy, m), w.shape()), dw, winograd_dw_atol(tiles_of(g, m), 1.0, m),
               1e-6, "winograd dw");
}

TEST(Conv2dWinograd, KernelsMatchDirectLoopsOnAwkwardShapes) {
  const std::vector<Conv3x3Case> cases = {
      {1, 3, 7, 9, 4, 1, "batch 1, 3 channels, odd 7x9: clipped last tile row and column"},
      {2, 5, 7, 9, 3, 0, "5 channels, padding 0: 5x7 output"},
      {1, 5, 9, 7, 6, 2, "padding 2: backward data is a padding-0 conv"},
      {2, 64, 7, 9, 64, 1, "64 channels in and out"},
      {1, 64, 6, 6, 5, 0, "even 4x4 output: whole tiles only"},
      {3, 16, 2, 2, 24, 1, "2x2 map: one tile per image, the rest padding"},
      {2, 1, 3, 3, 1, 0, "a single output pixel from a single channel"},
      {2, 4, 1, 9, 3, 1, "a single row: every tile clipped below"},
      {1, 3, 1, 1, 2, 2, "a 1x1 image with padding 2: 3x3 output"},
  };
  for (const int64_t m : {2, 4})
    for (const Conv3x3Case& cc : cases) check_kernels_against_direct_loops(cc, m);
}

TEST(Conv2dWinograd, SeveralImageGroupsWithAPartialLastGroup) {
  // 30x30 outputs are 225 tiles of 2x2 (64 of 4x4) per image; the batch is one group and a half.
  for (const int64_t m : {2, 4}) {
    Conv3x3Case cc{1, 3, 30, 30, 2, 1, "groups of images"};
    const int64_t group = cpu::conv2d_winograd_images_per_group(geometry({64, 3, 30, 30, 2, 1, ""}), m);
    ASSERT_GE(group, 2) << "30x30 maps should leave room for 2 images per group; shrink the map";
    cc.N = group + 1;
    check_kernels_against_direct_loops(cc, m);
  }
}

TEST(Conv2dWinograd, PathRule) {
  // The ResNet-18 3x3 stride-1 convs at batch 32 and 64x64 images run Winograd when their batch
  // holds enough tiles; anything else stays on the GEMM path.
  EXPECT_TRUE(cpu::conv2d_uses_winograd(geometry({32, 64, 16, 16, 64, 1, ""})));
  EXPECT_TRUE(cpu::conv2d_uses_winograd(geometry({32, 128, 8, 8, 128, 1, ""})));
  EXPECT_TRUE(cpu::conv2d_uses_winograd(geometry({32, 256, 4, 4, 256, 1, ""})));
  // 4x4 output tiles on maps of 8x8 and more, 2x2 tiles on smaller ones.
  EXPECT_EQ(cpu::conv2d_winograd_tile(geometry({32, 64, 16, 16, 64, 1, ""})), 4);
  EXPECT_EQ(cpu::conv2d_winograd_tile(geometry({32, 128, 8, 8, 128, 1, ""})), 4);
  EXPECT_EQ(cpu::conv2d_winograd_tile(geometry({32, 64, 9, 16, 64, 0, ""})), 2);   // 7x14 output
  EXPECT_EQ(cpu::conv2d_winograd_tile(geometry({32, 256, 4, 4, 256, 1, ""})), 2);
  EXPECT_TRUE(cpu::conv2d_uses_winograd(geometry({4, 16, 15, 17, 16, 0, ""})));
  EXPECT_TRUE(cpu::conv2d_uses_winograd(geometry({1, 32, 16, 16, 32, 2, ""})));
  EXPECT_FALSE(cpu::conv2d_uses_winograd(geometry({32, 512, 2, 2, 512, 1, ""})));   // 32 tiles
  EXPECT_FALSE(cpu::conv2d_uses_winograd(geometry({32, 3, 64, 64, 64, 1, ""})));    // 3 input channels
  EXPECT_FALSE(cpu::conv2d_uses_winograd(geometry({32, 64, 64, 64, 3, 1, ""})));    // 3 output channels
  EXPECT_FALSE(cpu::conv2d_uses_winograd(geometry({32, 64, 16, 16, 64, 3, ""})));   // padding 3
  Conv2dGeometry g = geometry({32, 64, 16, 16, 64, 1, ""});
  g.stride = 2, g.P = 8, g.Q = 8;
  EXPECT_FALSE(cpu::conv2d_uses_winograd(g));
  g = geometry({32, 64, 16, 16, 64, 2, ""});
  g.dilation = 2;
  EXPECT_FALSE(cpu::conv2d_uses_winograd(g));
  g = geometry({32, 64, 16, 16, 64, 1, ""});
  g.R = g.S = 1, g.pad = 0;
  EXPECT_FALSE(cpu::conv2d_uses_winograd(g));
  g = geometry({32, 64, 16, 16, 64, 1, ""});
  g.S = 1, g.Q = 18;
  EXPECT_FALSE(cpu::conv2d_uses_winograd(g));
}

// The op runs the Winograd kernels, not the GEMM path: its results equal the Winograd kernels'
// bit for bit and differ from the GEMM path's in the last bits (a different order of roundings).
TEST(Conv2dWinograd, TheOpRunsTheWinogradKernels) {
  const Conv3x3Case cc{4, 16, 9, 11, 24, 1, "op"};
  const Conv2dGeometry g = geometry(cc);
  ASSERT_TRUE(cpu::conv2d_uses_winograd(g));
  Generator gen(5);
  Tensor x = random_normal({cc.N, cc.C, cc.H, cc.W}, gen).set_requires_grad(true);
  Tensor w = random_normal({cc.K, cc.C, 3, 3}, gen, 0.1f).set_requires_grad(true);
  Tensor b = random_normal({cc.K}, gen);
  Tensor y = conv2d(x, w, b, {1, cc.pad, 1});
  Tensor dy = random_normal(y.shape(), gen);
  y.backward(dy);

  EXPECT_EQ(y.to_vector<float>(), run_forward(g, x, w, b));
  EXPECT_EQ(x.grad().to_vector<float>(), run_backward_data(g, dy, w));
  EXPECT_EQ(w.grad().to_vector<float>(), run_backward_weight(g, x, dy));

  std::vector<float> gemm_y(y.numel());
  std::vector<float> ws(std::max<int64_t>(1, cpu::conv2d_gemm_workspace_size(g)));
  cpu::conv2d_forward_gemm(g, x.data<float>(), w.data<float>(), b.data<float>(), gemm_y.data(), ws.data());
  EXPECT_NE(y.to_vector<float>(), gemm_y) << "the GEMM path gave the same bits: is Winograd running at all?";
  // ... while both compute the same conv.
  expect_close(y, as_tensor(gemm_y, y.shape()), 2 * winograd_atol(cc.C, 0.1), 1e-6, "winograd vs GEMM path");
}

TEST(Conv2dWinograd, GradientsMatchFiniteDifferences) {
  // The smallest shapes the path rule sends to each tile: 16 channels in and out and 64 tiles of
  // 2x2, as one 16x16 image (4x4 tiles) and as 16 images of 3x3 (2x2 tiles). The kernels' padding
  // and clipping cases are checked against the direct loops above, and the op's use of them bit
  // for bit. The conv is linear in each input, so the step can be large (no truncation error) and
  // the difference quotient stays clear of F(4x4, 3x3)'s larger float32 rounding.
  GradcheckOptions options;
  options.step = 0.1;
  for (const Conv3x3Case& cc : {Conv3x3Case{1, 16, 16, 16, 16, 1, "4x4 tiles"}, Conv3x3Case{16, 16, 3, 3, 16, 1,
                                                                                          "2x2 tiles"}}) {
    SCOPED_TRACE(cc.name);
    const Conv2dGeometry g = geometry(cc);
    ASSERT_TRUE(cpu::conv2d_uses_winograd(g));
    ASSERT_EQ(cpu::conv2d_winograd_tile(g), cc.name == "4x4 tiles" ? 4 : 2);
    Generator gen(9);
    Tensor x = random_normal({cc.N, cc.C, cc.H, cc.W}, gen).set_requires_grad(true);
    Tensor w = random_normal({cc.K, cc.C, 3, 3}, gen, 0.1f).set_requires_grad(true);
    Tensor b = random_normal({cc.K}, gen).set_requires_grad(true);
    expect_gradients_match([](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], {1, 1, 1}); },
                           {x, w, b}, options);
  }
}

}  // namespace
}  // namespace xmkd
