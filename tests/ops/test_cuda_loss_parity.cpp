// The PyTorch loss fixtures of test_loss_parity.cpp, reproduced with every tensor on CUDA: the
// same outputs and input gradients under the stored upstream gradients, at the same tolerance
// (atol 1e-6 + rtol 1e-5). CUDA's expf/logf (within 2 ulp) instead of glibc's change the results
// by a few float ulps, well inside it. Every test skips without a device.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "tests/support/gradcheck.h"
#include "tests/support/cuda_skip.h"

namespace xmkd {
namespace {

using testing::expect_close;
using testing::fixture_tensor;
using testing::load_fixture;

constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;

// fixture[key] on the GPU.
Tensor on_gpu(const TensorMap& f, const std::string& key) { return fixture_tensor(f, key).to(Device::CUDA); }

Tensor leaf(const TensorMap& f, const std::string& key) {
  Tensor t = on_gpu(f, key);
  return t.set_requires_grad(true);
}

// Compares `output` with fixture[output_key], runs backward with fixture["grad_" + output_key]
// and compares each input's gradient with fixture["grad_" + input_key].
void expect_matches_fixture(const TensorMap& f, const std::string& what, Tensor output, const std::string& output_key,
                            const std::vector<std::pair<Tensor, std::string>>& inputs) {
  expect_close(output, fixture_tensor(f, output_key), kAtol, kRtol, what + ": " + output_key);
  ASSERT_EQ(output.device(), Device::CUDA) << what;
  output.backward(on_gpu(f, "grad_" + output_key));
  for (const auto& [input, key] : inputs)
    expect_close(input.grad(), fixture_tensor(f, key), kAtol, kRtol, what + ": " + key);
}

Tensor to_int32(const Tensor& labels64) {
  std::vector<int64_t> v = labels64.to_vector<int64_t>();
  return Tensor::from_vector(std::vector<int32_t>(v.begin(), v.end()), labels64.shape(), Device::CUDA);
}

float scalar_of(const TensorMap& f, const std::string& key) { return fixture_tensor(f, key).to_vector<float>()[0]; }

TEST(CudaLossParity, CrossEntropyClassWithWeightsAndIgnoreIndex) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_ce_class");
  Tensor labels = on_gpu(f, "labels");
  for (const Tensor& l : {labels, to_int32(labels)}) {
    const std::string what = std::string("cross_entropy labels ") + dtype_name(l.dtype());
    Tensor logits = leaf(f, "logits");
    expect_matches_fixture(f, what, cross_entropy(logits, l), "loss_plain", {{logits, "grad_logits_plain"}});
    CrossEntropyOptions weighted;
    weighted.class_weights = on_gpu(f, "class_weights");
    logits = leaf(f, "logits");
    expect_matches_fixture(f, what, cross_entropy(logits, l, weighted), "loss_weighted",
                           {{logits, "grad_logits_weighted"}});
  }
}

TEST(CudaLossParity, CrossEntropyPerPixelIgnore255) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_ce_pixel");
  Tensor labels = on_gpu(f, "labels");
  CrossEntropyOptions options;
  options.ignore_index = 255;
  for (const Tensor& l : {labels, to_int32(labels)}) {
    Tensor logits = leaf(f, "logits");
    expect_matches_fixture(f, std::string("cross_entropy per pixel ") + dtype_name(l.dtype()),
                           cross_entropy(logits, l, options), "loss", {{logits, "grad_logits"}});
  }
}

TEST(CudaLossParity, SoftmaxAndLogSoftmax) {
  XMKD_SKIP_WITHOUT_CUDA();
  for (const char* tag : {"2d", "4d"}) {
    TensorMap f = load_fixture("losses_softmax");
    Tensor x = leaf(f, std::string("x_") + tag);
    expect_matches_fixture(f, "softmax", softmax(x), std::string("y_") + tag, {{x, std::string("grad_x_") + tag}});
    TensorMap g = load_fixture("losses_log_softmax");
    x = leaf(g, std::string("x_") + tag);
    expect_matches_fixture(g, "log_softmax", log_softmax(x), std::string("y_") + tag,
                           {{x, std::string("grad_x_") + tag}});
  }
}

TEST(CudaLossParity, KlDivergenceWithAndWithoutTemperature) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_kl_div");
  const float T = scalar_of(f, "temperature");
  for (const std::string tag : {"2d", "4d"}) {
    Tensor s = leaf(f, "student_" + tag), t = leaf(f, "teacher_" + tag);
    expect_matches_fixture(f, "kl_div_logits", kl_div_logits(s, t), "loss_" + tag + "_t1",
                           {{s, "grad_student_" + tag + "_t1"}, {t, "grad_teacher_" + tag + "_t1"}});
    s = leaf(f, "student_" + tag);
    t = leaf(f, "teacher_" + tag);
    expect_matches_fixture(f, "kl_div_with_temperature", kl_div_with_temperature(s, t, T), "loss_" + tag + "_t4",
                           {{s, "grad_student_" + tag + "_t4"}, {t, "grad_teacher_" + tag + "_t4"}});
  }
}

TEST(CudaLossParity, MeanSquaredError) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_mse");
  Tensor a = leaf(f, "a"), b = leaf(f, "b");
  expect_matches_fixture(f, "mse_loss", mse_loss(a, b), "loss", {{a, "grad_a"}, {b, "grad_b"}});
}

TEST(CudaLossParity, CosineSimilarity) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_cosine");
  for (const std::string tag : {"2d", "4d"}) {
    Tensor a = leaf(f, "a_" + tag), b = leaf(f, "b_" + tag);
    expect_matches_fixture(f, "cosine_similarity", cosine_similarity(a, b), "y_" + tag,
                           {{a, "grad_a_" + tag}, {b, "grad_b_" + tag}});
  }
  // Rows with |a|, |b| or both below eps = 0.5: the per-norm clamp and its gradient convention.
  Tensor a = leaf(f, "a_clamped"), b = leaf(f, "b_clamped");
  expect_matches_fixture(f, "cosine_similarity clamped", cosine_similarity(a, b, scalar_of(f, "eps_clamped")),
                         "y_clamped", {{a, "grad_a_clamped"}, {b, "grad_b_clamped"}});
}

TEST(CudaLossParity, L2Normalize) {
  XMKD_SKIP_WITHOUT_CUDA();
  TensorMap f = load_fixture("losses_normalize");
  for (const std::string tag : {"2d", "4d"}) {
    Tensor x = leaf(f, "x_" + tag);
    expect_matches_fixture(f, "l2_normalize", l2_normalize(x), "y_" + tag, {{x, "grad_x_" + tag}});
  }
  Tensor x = leaf(f, "x_clamped");
  expect_matches_fixture(f, "l2_normalize clamped", l2_normalize(x, scalar_of(f, "eps_clamped")), "y_clamped",
                         {{x, "grad_x_clamped"}});
}

}  // namespace
}  // namespace xmkd
