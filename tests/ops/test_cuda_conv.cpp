// conv2d on CUDA against the CPU reference, for each conv backend (kernels/cuda/backends.h):
// forward, and the x, weight and bias gradients of the op's backward under a random upstream
// gradient, on every conv shape of ResNet-18 (batch 2, small maps) and on awkward shapes (batch 1,
// channel counts 3 / 17 / 65, 1x1 and 7x7 kernels, stride 2 and 3, dilation 2, odd 7x9 maps, no
// bias, a backward-weight reduction split many ways). Each test skips without a device.
//
// Tolerances are relative to the magnitude of each result's own sum, e.g. Σ|w·x| + |b| for y
// (computed exactly as the same convolution of |x|, |w|, |b| and |dy|): a float sum in any order
// is within a few ulps of that magnitude, while a cancelling result may be tiny, so an element-wise
// relative tolerance would be meaningless and an absolute one blind on small sums.
//   kFp32 (handwritten, 1e-5): both sides sum in float. A sum of n random-sign terms accumulated in
//     float has an error of about u·Σ|t| (u = 6e-8) whatever n, as the partial sums grow like √n;
//     the CPU's Winograd path adds its transform roundings, measured far below 1e-6·Σ|t| (see
//     tests/ops/conv_reference.h). 1e-5 is >100x that; one missing or wrong term (on average
//     Σ|t|/n, n <= 4608 here) is >20x above it.
//   kCudnn (5e-5): cuDNN may choose Winograd variants with larger tiles than the CPU's F(2x2, 3x3),
//     whose transforms have larger coefficients; still 4x below one average term.
//   kTf32 (2e-3): the tensor cores round both operands to TF32 (10-bit mantissa, unit roundoff
//     u' = 2^-11), so each product is off by up to 2u' ≈ 9.8e-4 of |w·x| and the sum by up to
//     9.8e-4·Σ|t|; 2x for the tensor cores' FP32 accumulation (not round-to-nearest). A wrong index
//     in the gathers is caught by the FP32 tests: both kernels share them.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cuda/backends.h"
#include "tests/support/cuda_backends.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using cuda::ConvBackend;
using testing::CudaBackendScope;

constexpr double kFp32 = 1e-5;
constexpr double kCudnn = 5e-5;
constexpr double kTf32 = 2e-3;

double tolerance_of(ConvBackend b) {
  switch (b) {
    case ConvBackend::Handwritten: return kFp32;
    case ConvBackend::HandwrittenTF32: return kTf32;
    case ConvBackend::Cudnn: return kCudnn;
  }
  return 0.0;
}

struct ConvCase {
  std::string name;
  Shape x, w;
  bool bias;
  Conv2dOptions options;
};

Conv2dOptions opts(int64_t stride, int64_t padding, int64_t dilation = 1) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.dilation = dilation;
  return o;
}

// Every conv of ResNet-18 (models/resnet18.h) at batch 2 on a 32x32 image, except layer1 at 16x16
// so that the CPU reference takes its Winograd path there (>= 64 tiles).
std::vector<ConvCase> resnet18_cases() {
  return {
      {"conv1 7x7/2", {2, 3, 32, 32}, {64, 3, 7, 7}, false, opts(2, 3)},
      {"layer1 3x3", {2, 64, 16, 16}, {64, 64, 3, 3}, false, opts(1, 1)},
      {"layer2.0.conv1 3x3/2", {2, 64, 16, 16}, {128, 64, 3, 3}, false, opts(2, 1)},
      {"layer2 3x3", {2, 128, 8, 8}, {128, 128, 3, 3}, false, opts(1, 1)},
      {"layer2.0.downsample 1x1/2", {2, 64, 16, 16}, {128, 64, 1, 1}, false, opts(2, 0)},
      {"layer3.0.conv1 3x3/2", {2, 128, 8, 8}, {256, 128, 3, 3}, false, opts(2, 1)},
      {"layer3 3x3", {2, 256, 4, 4}, {256, 256, 3, 3}, false, opts(1, 1)},
      {"layer3.0.downsample 1x1/2", {2, 128, 8, 8}, {256, 128, 1, 1}, false, opts(2, 0)},
      {"layer4.0.conv1 3x3/2", {2, 256, 4, 4}, {512, 256, 3, 3}, false, opts(2, 1)},
      {"layer4 3x3", {2, 512, 2, 2}, {512, 512, 3, 3}, false, opts(1, 1)},
      {"layer4.0.downsample 1x1/2", {2, 256, 4, 4}, {512, 256, 1, 1}, false, opts(2, 0)},
  };
}

std::vector<ConvCase> awkward_cases() {
  return {
      {"batch 1, 3 -> 17, 7x9, 3x3 pad 1", {1, 3, 7, 9}, {17, 3, 3, 3}, true, opts(1, 1)},
      {"17 -> 65, 7x9, 3x3 stride 2", {1, 17, 7, 9}, {65, 17, 3, 3}, true, opts(2, 1)},
      {"65 -> 3, 7x9, 1x1", {2, 65, 7, 9}, {3, 65, 1, 1}, true, opts(1, 0)},
      {"65 -> 17, 7x9, 1x1 stride 2, no bias", {2, 65, 7, 9}, {17, 65, 1, 1}, false, opts(2, 0)},
      {"17 -> 17, 9x7, 3x3 dilation 2", {3, 17, 9, 7}, {17, 17, 3, 3}, true, opts(1, 2, 2)},
      {"17 -> 3, 7x9, 3x3 stride 2 dilation 2", {2, 17, 7, 9}, {3, 17, 3, 3}, true, opts(2, 1, 2)},
      {"3 -> 65, 7x9, 7x7 stride 2 pad 3", {1, 3, 7, 9}, {65, 3, 7, 7}, true, opts(2, 3)},
      {"3 -> 17, 11x9, 5x5 stride 3 no pad", {2, 3, 11, 9}, {17, 3, 5, 5}, true, opts(3, 0)},
      {"65 -> 65, 1x1 map, 3x3 pad 1", {3, 65, 1, 1}, {65, 65, 3, 3}, true, opts(1, 1)},
      {"17 -> 17, 16x16 batch 2 (CPU Winograd), bias", {2, 17, 16, 16}, {17, 17, 3, 3}, true, opts(1, 1)},
      // Backward weight splits N·P·Q = 3219 into 12 chunks, the last one short.
      {"5 -> 6, 37x29 batch 3, split reduction", {3, 5, 37, 29}, {6, 5, 3, 3}, true, opts(1, 1)},
      // 64 splits of 256.
      {"8 -> 8, 64x64 batch 4, split reduction", {4, 8, 64, 64}, {8, 8, 3, 3}, false, opts(1, 1)},
  };
}

Tensor absolute(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  for (float& e : v) e = std::fabs(e);
  return Tensor::from_vector(v, t.shape());
}

// conv2d(x, w, b) and its gradients under upstream dy, computed on `device`, returned on the CPU;
// need[i] says whether x, w, b (in that order) require grad.
struct ConvResults {
  Tensor y, dx, dw, db;
};
using GradMask = std::array<bool, 3>;
constexpr GradMask kAllGrads{true, true, true};
ConvResults run_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy, const Conv2dOptions& o,
                     Device device, GradMask need = kAllGrads) {
  auto leaf = [device](const Tensor& t, bool grad) {
    if (!t.defined()) return Tensor();
    Tensor copy = device == Device::CPU ? t.clone() : t.to(device);
    return grad ? copy.set_requires_grad(true) : copy;
  };
  Tensor xd = leaf(x, need[0]), wd = leaf(w, need[1]), bd = leaf(b, need[2]);
  Tensor y = conv2d(xd, wd, bd, o);
  EXPECT_EQ(y.device(), device);
  y.backward(dy.to(device));
  auto grad_of = [](const Tensor& t, bool grad) { return t.defined() && grad ? t.grad().to(Device::CPU) : Tensor(); };
  return {y.to(Device::CPU), grad_of(xd, need[0]), grad_of(wd, need[1]), grad_of(bd, need[2])};
}

// |actual - expected| <= rel · magnitude, element-wise; reports the worst element.
void expect_within_magnitude(const Tensor& actual, const Tensor& expected, const Tensor& magnitude, double rel,
                             const std::string& what) {
  ASSERT_TRUE(actual.defined() && expected.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<float> a = actual.to_vector<float>(), e = expected.to_vector<float>(),
                           m = magnitude.to_vector<float>();
  size_t worst = 0, failures = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(static_cast<double>(a[i]) - e[i]), bound = rel * m[i];
    const double ratio = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0.0);
    if (!(err <= bound)) ++failures;   // NaN fails
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  EXPECT_EQ(failures, 0u) << what << ": " << failures << " of " << a.size() << " elements off by more than " << rel
                          << " x their magnitude; worst [" << worst << "]: " << a[worst] << " vs " << e[worst]
                          << " (magnitude " << m[worst] << ", error/tolerance " << worst_ratio << ")";
}

void expect_conv_matches_cpu(const ConvCase& cc, ConvBackend backend, uint64_t seed, GradMask need = kAllGrads) {
  SCOPED_TRACE(cc.name + " on " + cuda::conv_backend_name(backend));
  Generator gen(seed);
  Tensor x = testing::random_normal(cc.x, gen), w = testing::random_normal(cc.w, gen);
  Tensor b = cc.bias ? testing::random_normal({cc.w[0]}, gen) : Tensor();
  Tensor dy = rand_normal(conv2d(x, w, b, cc.options).shape(), 0.0f, 1.0f, gen);

  const ConvResults cpu = run_conv(x, w, b, dy, cc.options, Device::CPU, need);
  const ConvResults mag = run_conv(absolute(x), absolute(w), b.defined() ? absolute(b) : Tensor(), absolute(dy),
                                   cc.options, Device::CPU, need);
  ConvResults gpu;
  {
    CudaBackendScope scope(backend);
    gpu = run_conv(x, w, b, dy, cc.options, Device::CUDA, need);
  }
  const double rel = tolerance_of(backend);
  expect_within_magnitude(gpu.y, cpu.y, mag.y, rel, "y");
  const std::pair<const char*, const Tensor ConvResults::*> grads[] = {
      {"dx", &ConvResults::dx}, {"dw", &ConvResults::dw}, {"db", &ConvResults::db}};
  for (const auto& [name, member] : grads) {
    ASSERT_EQ((gpu.*member).defined(), (cpu.*member).defined()) << name;
    if ((cpu.*member).defined()) expect_within_magnitude(gpu.*member, cpu.*member, mag.*member, rel, name);
  }
}

class CudaConv : public ::testing::TestWithParam<ConvBackend> {
 protected:
  void SetUp() override {
    XMKD_SKIP_WITHOUT_CUDA();
    if (!cuda::conv_backend_available(GetParam())) GTEST_SKIP() << "built without cuDNN";
  }
};

TEST_P(CudaConv, ResNet18LayersMatchCpu) {
  uint64_t seed = 100;
  for (const ConvCase& cc : resnet18_cases()) expect_conv_matches_cpu(cc, GetParam(), seed++);
}

TEST_P(CudaConv, AwkwardShapesMatchCpu) {
  uint64_t seed = 200;
  for (const ConvCase& cc : awkward_cases()) expect_conv_matches_cpu(cc, GetParam(), seed++);
}

// Only some gradients asked for: the first layer's image needs no dx, a frozen weight no dw.
TEST_P(CudaConv, PartialGradientsMatchCpu) {
  const ConvCase cc{"17 -> 65, 7x9, 3x3 stride 2", {2, 17, 7, 9}, {65, 17, 3, 3}, true, opts(2, 1)};
  expect_conv_matches_cpu(cc, GetParam(), 300, {false, true, true});
  expect_conv_matches_cpu(cc, GetParam(), 301, {true, false, true});
  expect_conv_matches_cpu(cc, GetParam(), 302, {true, false, false});
  expect_conv_matches_cpu(cc, GetParam(), 303, {false, false, true});
}

TEST(CudaConvBackend, ParsesNamesAndRejectsUnknownOnes) {
  XMKD_SKIP_WITHOUT_CUDA();
  for (ConvBackend b : {ConvBackend::Handwritten, ConvBackend::HandwrittenTF32, ConvBackend::Cudnn})
    EXPECT_EQ(cuda::parse_conv_backend(cuda::conv_backend_name(b)), b);
  try {
    cuda::parse_conv_backend("winograd");
    ADD_FAILURE() << "no error for an unknown backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown conv backend 'winograd'"), std::string::npos) << e.what();
  }
}

// The TF32 backend really runs other kernels: its results differ from the FP32 ones.
TEST(CudaConvBackend, Tf32DiffersFromFp32) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(400);
  Tensor x = testing::random_normal({2, 64, 8, 8}, gen).to(Device::CUDA);
  Tensor w = testing::random_normal({64, 64, 3, 3}, gen).to(Device::CUDA);
  Tensor y32, y_tf32;
  {
    CudaBackendScope scope(ConvBackend::Handwritten);
    y32 = conv2d(x, w, Tensor(), opts(1, 1)).to(Device::CPU);
  }
  {
    CudaBackendScope scope(ConvBackend::HandwrittenTF32);
    y_tf32 = conv2d(x, w, Tensor(), opts(1, 1)).to(Device::CPU);
  }
  EXPECT_NE(y32.to_vector<float>(), y_tf32.to_vector<float>()) << "the TF32 backend gave FP32's bits";
}

// Not conv_backend_name: without CUDA it throws, and the names are made when the tests are listed.
std::string backend_test_name(const ::testing::TestParamInfo<ConvBackend>& info) {
  switch (info.param) {
    case ConvBackend::Handwritten: return "handwritten";
    case ConvBackend::HandwrittenTF32: return "handwritten_tf32";
    case ConvBackend::Cudnn: return "cudnn";
  }
  return "unknown";
}

INSTANTIATE_TEST_SUITE_P(Backends, CudaConv,
                         ::testing::Values(ConvBackend::Handwritten, ConvBackend::HandwrittenTF32, ConvBackend::Cudnn),
                         backend_test_name);

}  // namespace
}  // namespace xmkd
