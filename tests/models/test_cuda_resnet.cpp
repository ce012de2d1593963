// ResNet-18 on CUDA, for each conv backend and with cuDNN batch norm (kernels/cuda/backends.h):
// one training step (forward, cross-entropy, backward) against the same step on the CPU, and the
// PyTorch parity fixture of test_resnet_parity.cpp reproduced on the GPU. Each test skips without a device.
//
// Tolerances, for the step against the CPU: each conv's own error is a few ulps of its Σ|w·x|
// (tests/ops/test_cuda_conv.cpp), but 20 convs and batch norms compound it, and batch norm
// divides by the batch's spread, which at layer4 (2x2 maps, 4 images: 16 values a channel) is
// small: the error of a whole result is measured against its largest entry, max|Δ| <= tol·max|cpu|.
//   FP32 backends: 1e-3 (measured errors are expected around 1e-5: float roundings of ~1e-7
//     amplified by the depth and the normalisations; 100x headroom, and a wrong conv is O(1)).
//   TF32: 5e-2, as each conv alone is off by up to 1e-3 of its magnitude (TF32's 10-bit mantissa)
//     and 20 of them compound; this checks the network trains on TF32, not its precision.
// The parity fixture runs only for the FP32 backends: its rule (docs/parity.md) holds a result to
// 10x PyTorch float32's own error, which TF32 does not meet by design.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cuda/backends.h"
#include "models/resnet18.h"
#include "tests/models/parity_fixture.h"
#include "tests/support/cuda_backends.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/deterministic.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using cuda::BatchNormBackend;
using cuda::ConvBackend;
using testing::CudaBackendScope;

// A combination of the CUDA backends; name is the test's (the names are made when the tests are
// listed, where backend names throw without CUDA).
struct Backends {
  ConvBackend conv;
  BatchNormBackend batchnorm;
  const char* name;
};

void PrintTo(const Backends& b, std::ostream* os) { *os << b.name; }

// max|actual - expected| <= tol · max|expected|.
void expect_close_to_scale(const Tensor& actual, const Tensor& expected, double tol, const std::string& what) {
  ASSERT_TRUE(actual.defined() && expected.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<float> a = actual.to(Device::CPU).to_vector<float>(), e = expected.to_vector<float>();
  double scale = 0.0, worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(e[i])));
    const double d = std::fabs(static_cast<double>(a[i]) - e[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  EXPECT_LE(worst, tol * scale) << what << ": max error " << worst << " against max |value| " << scale;
}

struct Step {
  Tensor logits;
  TensorMap grads;
};

Step train_step(Device device, const Tensor& x, const Tensor& labels) {
  models::ResNet18 model(3, 10);
  testing::deterministic_init(model);
  model.to(device);
  model.train();
  Tensor logits = model.forward(x.to(device));
  cross_entropy(logits, labels.to(device)).backward();
  Step step{logits.to(Device::CPU), {}};
  for (const auto& [name, p] : model.named_parameters()) step.grads[name] = p.grad().to(Device::CPU);
  return step;
}

class CudaResNet : public ::testing::TestWithParam<Backends> {
 protected:
  void SetUp() override {
    XMKD_SKIP_WITHOUT_CUDA();
    if (!cuda::conv_backend_available(GetParam().conv) || !cuda::batchnorm_backend_available(GetParam().batchnorm))
      GTEST_SKIP() << "built without cuDNN";
  }
  bool fp32() const { return GetParam().conv != ConvBackend::HandwrittenTF32; }
};

TEST_P(CudaResNet, TrainingStepMatchesCpu) {
  Generator gen(7);
  Tensor x = rand_normal({4, 3, 64, 64}, 0.0f, 1.0f, gen);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{3, 0, 9, 3}, {4});
  const Step cpu = train_step(Device::CPU, x, labels);
  Step gpu;
  {
    CudaBackendScope scope(GetParam().conv, GetParam().batchnorm);
    gpu = train_step(Device::CUDA, x, labels);
  }
  const double tol = fp32() ? 1e-3 : 5e-2;
  expect_close_to_scale(gpu.logits, cpu.logits, tol, "logits");
  for (const char* name : {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                           "layer3.1.conv2.weight", "layer4.1.conv2.weight", "fc.weight", "fc.bias"}) {
    ASSERT_TRUE(cpu.grads.count(name)) << name;
    expect_close_to_scale(gpu.grads.at(name), cpu.grads.at(name), tol, std::string("grad.") + name);
  }
}

// test_resnet_parity.cpp's OneTrainingStepMatchesPyTorch with the model and data on the GPU, for
// the float32 backends only: TF32 is not held to PyTorch float32's precision (it is compared
// with the CPU above, at its own tolerance), so it has no instance here rather than a skip.
class CudaResNetFp32 : public CudaResNet {};

TEST_P(CudaResNetFp32, OneTrainingStepMatchesPyTorch) {
  CudaBackendScope scope(GetParam().conv, GetParam().batchnorm);
  testing::ParityFixture fixture("model_resnet18_c3");
  models::ResNet18 model(3, 10);
  testing::deterministic_init(model);
  model.to(Device::CUDA);
  model.train();
  Tensor x = fixture.tensor("input"), labels = fixture.tensor("labels");
  ASSERT_TRUE(x.defined() && labels.defined());

  Tensor logits = model.forward(x.to(Device::CUDA));
  Tensor loss = cross_entropy(logits, labels.to(Device::CUDA));
  loss.backward();

  fixture.expect_matches("logits", logits.to(Device::CPU));
  fixture.expect_matches("loss", loss.to(Device::CPU));
  for (const auto& [name, p] : model.named_parameters()) fixture.expect_matches("grad." + name, p.grad().to(Device::CPU));
  for (const auto& [name, b] : model.named_buffers()) fixture.expect_matches("state." + name, b.to(Device::CPU));
  EXPECT_TRUE(fixture.unchecked("grad.").empty()) << "fixture gradients not checked: " << fixture.unchecked("grad.")[0];
}

INSTANTIATE_TEST_SUITE_P(
    Backends, CudaResNet,
    ::testing::Values(Backends{ConvBackend::Handwritten, BatchNormBackend::Handwritten, "handwritten"},
                      Backends{ConvBackend::HandwrittenTF32, BatchNormBackend::Handwritten, "handwritten_tf32"},
                      Backends{ConvBackend::Cudnn, BatchNormBackend::Handwritten, "cudnn_conv"},
                      Backends{ConvBackend::Cudnn, BatchNormBackend::Cudnn, "cudnn_conv_and_batchnorm"}),
    [](const ::testing::TestParamInfo<Backends>& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Backends, CudaResNetFp32,
    ::testing::Values(Backends{ConvBackend::Handwritten, BatchNormBackend::Handwritten, "handwritten"},
                      Backends{ConvBackend::Cudnn, BatchNormBackend::Handwritten, "cudnn_conv"},
                      Backends{ConvBackend::Cudnn, BatchNormBackend::Cudnn, "cudnn_conv_and_batchnorm"}),
    [](const ::testing::TestParamInfo<Backends>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace xmkd
