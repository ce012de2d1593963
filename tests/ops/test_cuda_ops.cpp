// Every op of engine/ops.h except conv2d, on CUDA against the CPU reference: forward, and the
// gradient of every input under a random upstream gradient (tests/support/cuda_compare.h), on
// awkward shapes (batch 1, channel counts 3 / 17 / 65, odd and 1x1 images). Each test skips
// without a device. Tolerances, by what differs between the two backends:
//   kExact: element-wise float arithmetic, copies, max pooling, gathers. Each result is one
//     IEEE-rounded expression evaluated in the same order on both sides (the CUDA code is built
//     with --fmad=false, the CPU code with -ffp-contract=off; pooling and resizing backward
//     gather in the CPU's scatter order), so the bits agree.
//   kDoubleSum: sums accumulated in double in another order (sum, mean, channel sums, norms,
//     batch statistics, dot products). The double results differ by ~1e-16 relative, so the
//     float results by at most an ulp or two (1.2e-7 relative): rtol 1e-6; atol 1e-6 for results
//     that cancel to near zero.
//   kBatchNorm: an ulp of the batch mean or invstd moves every normalised value by that ulp
//     times |x̂| <= ~4 here: 1e-5 absolute and relative.
//   kTranscendental: CUDA's expf/logf are within 2 ulp, glibc's within 1, so softmax, log-sum-exp
//     and KL terms differ by a few ulps (<1e-6 relative) plus their propagation through
//     (x - m) - log Σ: rtol 1e-5, atol 1e-6 (as for the PyTorch loss fixtures).
//   kCudnnBatchNorm: cuDNN's batch norm accumulates its statistics in float, in an undocumented
//     order: a float sum of n <= 768 terms is within n·2^-24 ≈ 5e-5 relative of the exact one, and
//     that error reaches the mean, invstd, running statistics and the gradient sums: 1e-4.
//   kGemm: cuBLAS and OpenBLAS sum the K products in different orders (and cuBLAS with FMA);
//     the float rounding bound K·6e-8·Σ|a b| is below 5e-5 for K <= 65 and N(0, 0.5²) inputs.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/support/cuda_backends.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/cuda_compare.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using testing::expect_close;
using testing::expect_cuda_matches_cpu;
using testing::OpInput;
using testing::random_away_from_zero;
using testing::random_distinct;
using testing::random_normal;
using testing::Tolerance;

using testing::kBatchNorm;
using testing::kDoubleSum;
using testing::kExact;
using testing::kGemm;
using testing::kTranscendental;
constexpr Tolerance kCudnnBatchNorm{1e-4, 1e-4};

using BatchNormBackend = cuda::BatchNormBackend;
using Inputs = std::vector<Tensor>;

// Image-like shapes: batch 1, channels not a multiple of 32, odd and single-pixel planes.
const std::vector<Shape> kImageShapes = {{1, 3, 7, 9}, {2, 17, 5, 3}, {1, 65, 1, 1}, {3, 4, 8, 8}};

TEST(CudaCore, FillZerosCopiesAndGradientAccumulation) {
  XMKD_SKIP_WITHOUT_CUDA();
  expect_close(Tensor::full({3, 17}, 2.5f, Device::CUDA), Tensor::full({3, 17}, 2.5f), 0.0, 0.0, "fill");
  expect_close(Tensor::zeros({65}, DType::Float32, Device::CUDA), Tensor::zeros({65}), 0.0, 0.0, "zeros");
  Generator gen(1);
  Tensor x = random_normal({5, 7}, gen);
  expect_close(x.to(Device::CUDA).clone().to(Device::CPU), x, 0.0, 0.0, "host -> device -> clone -> host");
  // x used three times: its gradient accumulates with axpy.
  expect_cuda_matches_cpu(
      "x + x * x", [](const Inputs& in) { return add(in[0], mul(in[0], add(in[0], in[0]))); }, {{x}}, kExact, kExact);
}

TEST(CudaElementwise, SameShapeOps) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(2);
  for (const Shape& s : kImageShapes) {
    const std::string tag = shape_str(s);
    Tensor a = random_away_from_zero(s, 0.05f, 1.0f, gen), b = random_away_from_zero(s, 0.05f, 1.0f, gen);
    expect_cuda_matches_cpu("add " + tag, [](const Inputs& in) { return add(in[0], in[1]); }, {{a}, {b}}, kExact,
                            kExact);
    expect_cuda_matches_cpu("sub " + tag, [](const Inputs& in) { return sub(in[0], in[1]); }, {{a}, {b}}, kExact,
                            kExact);
    expect_cuda_matches_cpu("mul " + tag, [](const Inputs& in) { return mul(in[0], in[1]); }, {{a}, {b}}, kExact,
                            kExact);
    expect_cuda_matches_cpu("scale " + tag, [](const Inputs& in) { return scale(in[0], -1.7f); }, {{a}}, kExact,
                            kExact);
    expect_cuda_matches_cpu("relu " + tag, [](const Inputs& in) { return relu(in[0]); }, {{a}}, kExact, kExact);
    // a + b away from 0: a and 0.5·a never cancel.
    expect_cuda_matches_cpu("add_relu " + tag, [](const Inputs& in) { return add_relu(in[0], scale(in[0], 0.5f)); },
                            {{a}}, kExact, kExact);
  }
}

TEST(CudaElementwise, BiasAndScalarOperands) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(3);
  for (const Shape& s : kImageShapes) {
    const std::string tag = shape_str(s);
    Tensor a = random_normal(s, gen), bias = random_normal({s[1]}, gen), k = random_normal({1}, gen);
    // The operand gradients are sums over the other dims (channel_sum, sum_all, dot): in double.
    expect_cuda_matches_cpu("add bias " + tag, [](const Inputs& in) { return add(in[0], in[1]); }, {{a}, {bias}},
                            kExact, kDoubleSum);
    expect_cuda_matches_cpu("add scalar " + tag, [](const Inputs& in) { return add(in[0], in[1]); }, {{a}, {k}},
                            kExact, kDoubleSum);
    expect_cuda_matches_cpu("mul scalar " + tag, [](const Inputs& in) { return mul(in[0], in[1]); }, {{a}, {k}},
                            kExact, kDoubleSum);
  }
  Tensor rows = random_normal({5, 17}, gen), bias = random_normal({17}, gen);
  expect_cuda_matches_cpu("add bias (N,C)", [](const Inputs& in) { return add(in[0], in[1]); }, {{rows}, {bias}},
                          kExact, kDoubleSum);
}

TEST(CudaReduce, SumAndMean) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(4);
  for (const Shape& s : std::vector<Shape>{{1}, {3, 17}, {2, 65, 7, 9}, {300007}}) {
    Tensor x = random_normal(s, gen);
    expect_cuda_matches_cpu("sum " + shape_str(s), [](const Inputs& in) { return sum(in[0]); }, {{x}}, kDoubleSum,
                            kExact);
    expect_cuda_matches_cpu("mean " + shape_str(s), [](const Inputs& in) { return mean(in[0]); }, {{x}}, kDoubleSum,
                            kExact);
  }
}

TEST(CudaLinalg, MatmulEveryTransposeAndLinear) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(5);
  const int64_t M = 17, K = 65, N = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_normal(ta ? Shape{K, M} : Shape{M, K}, gen, 0.5f);
      Tensor b = random_normal(tb ? Shape{N, K} : Shape{K, N}, gen, 0.5f);
      expect_cuda_matches_cpu(std::string("matmul ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0"),
                              [ta, tb](const Inputs& in) { return matmul(in[0], in[1], ta, tb); }, {{a}, {b}}, kGemm,
                              kGemm);
    }
  Tensor a = random_normal({1, 1}, gen), b = random_normal({1, 1}, gen);
  expect_cuda_matches_cpu("matmul 1x1", [](const Inputs& in) { return matmul(in[0], in[1]); }, {{a}, {b}}, kGemm,
                          kGemm);
  Tensor empty_a = Tensor::zeros({3, 0}), empty_b = Tensor::zeros({0, 4});
  expect_cuda_matches_cpu("matmul K = 0", [](const Inputs& in) { return matmul(in[0], in[1]); },
                          {{empty_a, false}, {empty_b, false}}, kExact, kExact);
  for (int64_t batch : {1, 5}) {
    Tensor x = random_normal({batch, 65}, gen, 0.5f), w = random_normal({17, 65}, gen, 0.5f);
    Tensor bias = random_normal({17}, gen);
    expect_cuda_matches_cpu("linear batch " + std::to_string(batch),
                            [](const Inputs& in) { return linear(in[0], in[1], in[2]); }, {{x}, {w}, {bias}}, kGemm,
                            kGemm);
    expect_cuda_matches_cpu("linear no bias", [](const Inputs& in) { return linear(in[0], in[1], Tensor()); },
                            {{x}, {w}}, kGemm, kGemm);
  }
}

TEST(CudaPool, MaxPool) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(6);
  struct Case {
    Shape shape;
    int kernel, stride, pad;
  };
  // Overlapping windows (stride < kernel) make several outputs pick the same input.
  for (const Case& c : std::vector<Case>{{{1, 3, 7, 9}, 3, 2, 1},
                                         {{2, 17, 5, 3}, 2, 2, 0},
                                         {{1, 5, 1, 1}, 1, 1, 0},
                                         {{2, 4, 9, 8}, 3, 1, 1},
                                         {{1, 65, 8, 8}, 3, 2, 1}}) {
    Tensor x = random_distinct(c.shape, 0.01f, gen);
    expect_cuda_matches_cpu(
        "max_pool2d " + shape_str(c.shape),
        [c](const Inputs& in) { return max_pool2d(in[0], c.kernel, c.stride, c.pad); }, {{x}}, kExact, kExact);
  }
  // Ties: the first maximum wins on both.
  Tensor ties = Tensor::ones({1, 2, 5, 5});
  expect_cuda_matches_cpu("max_pool2d ties", [](const Inputs& in) { return max_pool2d(in[0], 3, 1, 1); }, {{ties}},
                          kExact, kExact);
}

TEST(CudaPool, AdaptiveAndGlobalAveragePool) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(7);
  for (const Shape& s : kImageShapes) {
    Tensor x = random_normal(s, gen);
    // Bins that overlap (7 -> 3), that are single pixels (-> H, W), and more bins than pixels.
    for (auto [P, Q] : std::vector<std::pair<int, int>>{{3, 2}, {1, 1}, {static_cast<int>(s[2]), static_cast<int>(s[3])},
                                                        {5, 11}}) {
      expect_cuda_matches_cpu("adaptive_avg_pool2d " + shape_str(s) + " -> " + std::to_string(P) + "x" +
                                  std::to_string(Q),
                              [P, Q](const Inputs& in) { return adaptive_avg_pool2d(in[0], P, Q); }, {{x}}, kExact,
                              kExact);
    }
    // The CPU sums each plane in float lanes, CUDA in double: a float sum of hw <= 64 terms.
    expect_cuda_matches_cpu("global_avg_pool " + shape_str(s), [](const Inputs& in) { return global_avg_pool(in[0]); },
                            {{x}}, Tolerance{1e-6, 1e-5}, kExact);
  }
}

TEST(CudaPool, UpsampleBilinear) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(8);
  for (const Shape& s : kImageShapes) {
    Tensor x = random_normal(s, gen);
    for (auto [P, Q] : std::vector<std::pair<int, int>>{{14, 18}, {3, 2}, {1, 1}, {13, 5}, {32, 31}}) {
      expect_cuda_matches_cpu("upsample_bilinear " + shape_str(s) + " -> " + std::to_string(P) + "x" +
                                  std::to_string(Q),
                              [P, Q](const Inputs& in) { return upsample_bilinear(in[0], P, Q); }, {{x}}, kExact,
                              kExact);
    }
  }
}

// Batch norm on each batch-norm backend (kernels/cuda/backends.h): the handwritten kernels sum in
// double (kBatchNorm); cuDNN sums in float in an order it does not document (kCudnnBatchNorm).
class CudaNorm : public ::testing::TestWithParam<BatchNormBackend> {
 protected:
  void SetUp() override {
    XMKD_SKIP_WITHOUT_CUDA();
    if (!cuda::batchnorm_backend_available(GetParam())) GTEST_SKIP() << "built without cuDNN";
    scope_.emplace(cuda::ConvBackend::Handwritten, GetParam());
  }
  Tolerance tolerance() const { return GetParam() == BatchNormBackend::Cudnn ? kCudnnBatchNorm : kBatchNorm; }
  Tolerance running_tolerance() const {
    return GetParam() == BatchNormBackend::Cudnn ? kCudnnBatchNorm : kDoubleSum;
  }

 private:
  std::optional<testing::CudaBackendScope> scope_;
};

TEST_P(CudaNorm, BatchNormTrainingAndEval) {
  Generator gen(9);
  for (const Shape& s : std::vector<Shape>{{1, 3, 7, 9}, {2, 17, 5, 3}, {4, 65}, {2, 65, 1, 1}, {3, 5, 16, 16}}) {
    const int64_t C = s[1];
    // An offset mean: the shifted statistics must not cancel.
    Tensor x = add(random_normal(s, gen, 2.0f), Tensor::scalar(3.0f));
    Tensor w = random_normal({C}, gen), b = random_normal({C}, gen);
    for (bool training : {true, false}) {
      Tensor rm_cpu = random_normal({C}, gen, 0.1f), rv_cpu = rand_uniform({C}, 0.5f, 1.5f, gen);
      Tensor rm_gpu = rm_cpu.to(Device::CUDA), rv_gpu = rv_cpu.to(Device::CUDA);
      const std::string tag = std::string(training ? "training " : "eval ") + shape_str(s);
      int calls = 0;   // f runs on the CPU first, then on CUDA: each updates its own running stats
      expect_cuda_matches_cpu(
          "batch_norm " + tag,
          [&](const Inputs& in) {
            const bool gpu = calls++ > 0;
            return batch_norm(in[0], in[1], in[2], gpu ? rm_gpu : rm_cpu, gpu ? rv_gpu : rv_cpu, training, 0.1f,
                              1e-5f);
          },
          {{x}, {w}, {b}}, tolerance(), tolerance());
      expect_close(rm_gpu, rm_cpu, running_tolerance().atol, running_tolerance().rtol, "running_mean " + tag);
      expect_close(rv_gpu, rv_cpu, running_tolerance().atol, running_tolerance().rtol, "running_var " + tag);
    }
  }
}

TEST(CudaNormBackend, ParsesNamesAndRejectsUnknownOnes) {
  XMKD_SKIP_WITHOUT_CUDA();
  for (BatchNormBackend b : {BatchNormBackend::Handwritten, BatchNormBackend::Cudnn})
    EXPECT_EQ(cuda::parse_batchnorm_backend(cuda::batchnorm_backend_name(b)), b);
  testing::expect_error_naming([] { cuda::parse_batchnorm_backend("welford"); },
                               "unknown batch norm backend 'welford'",
                               "(XMKD_BATCHNORM_BACKEND / train.batchnorm_backend): expected handwritten or cudnn");
}

// Not batchnorm_backend_name: without CUDA it throws, and the names are made when the tests are listed.
INSTANTIATE_TEST_SUITE_P(Backends, CudaNorm, ::testing::Values(BatchNormBackend::Handwritten, BatchNormBackend::Cudnn),
                         [](const ::testing::TestParamInfo<BatchNormBackend>& info) {
                           return std::string(info.param == BatchNormBackend::Cudnn ? "cudnn" : "handwritten");
                         });

TEST(CudaShape, ReshapeFlattenConcatSliceSplit) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(10);
  Tensor a = random_normal({2, 3, 7, 9}, gen), b = random_normal({2, 17, 7, 9}, gen), c = random_normal({2, 1, 7, 9}, gen);
  expect_cuda_matches_cpu("reshape", [](const Inputs& in) { return reshape(in[0], {6, -1}); }, {{a}}, kExact, kExact);
  expect_cuda_matches_cpu("flatten", [](const Inputs& in) { return flatten(in[0]); }, {{b}}, kExact, kExact);
  expect_cuda_matches_cpu("concat_channels", [](const Inputs& in) { return concat_channels({in[0], in[1], in[2]}); },
                          {{a}, {b}, {c}}, kExact, kExact);
  expect_cuda_matches_cpu("slice_channels", [](const Inputs& in) { return slice_channels(in[0], 5, 16); }, {{b}},
                          kExact, kExact);
  expect_cuda_matches_cpu(
      "split_channels",
      [](const Inputs& in) {
        std::vector<Tensor> parts = split_channels(in[0], {3, 13, 1});
        return concat_channels({scale(parts[2], 3.0f), parts[0], scale(parts[1], -2.0f)});
      },
      {{b}}, kExact, kExact);
  Tensor rows = random_normal({1, 65}, gen);
  expect_cuda_matches_cpu("slice (N,C)", [](const Inputs& in) { return slice_channels(in[0], 1, 64); }, {{rows}},
                          kExact, kExact);
}

TEST(CudaRegularize, DropoutAndGradientReversal) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(11);
  Tensor x = random_normal({2, 17, 5, 3}, gen);
  int calls = 0;
  Generator cpu_gen(77), gpu_gen(77);   // the same seed draws the same mask on both devices
  expect_cuda_matches_cpu(
      "dropout", [&](const Inputs& in) { return dropout(in[0], 0.3f, true, calls++ == 0 ? cpu_gen : gpu_gen); },
      {{x}}, kExact, kExact);
  expect_cuda_matches_cpu("gradient_reversal", [](const Inputs& in) { return gradient_reversal(in[0], 0.7f); }, {{x}},
                          kExact, kExact);
}

TEST(CudaSoftmax, SoftmaxAndLogSoftmax) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(12);
  // Rows (a warp per row) including C = 1000, and maps (a thread per position).
  for (const Shape& s : std::vector<Shape>{{1, 3}, {4, 1000}, {3, 17}, {1, 3, 7, 9}, {2, 17, 5, 3}, {2, 65, 1, 1}}) {
    Tensor x = random_normal(s, gen, 3.0f);
    expect_cuda_matches_cpu("softmax " + shape_str(s), [](const Inputs& in) { return softmax(in[0]); }, {{x}},
                            kTranscendental, kTranscendental);
    expect_cuda_matches_cpu("log_softmax " + shape_str(s), [](const Inputs& in) { return log_softmax(in[0]); }, {{x}},
                            kTranscendental, kTranscendental);
  }
}

// Labels as int32 or int64 on the given device.
Tensor labels_as(const Tensor& labels64, DType dtype) {
  if (dtype == DType::Int64) return labels64;
  std::vector<int64_t> v = labels64.to_vector<int64_t>();
  return Tensor::from_vector(std::vector<int32_t>(v.begin(), v.end()), labels64.shape());
}

// The gradient tolerance of a mean cross-entropy (docs/testing.md): g = u·s·(p − y), s the row's
// share of the mean (1/N; w_y/Σw with weights). Both devices form lse to a few ulps of its size,
// and exp turns an absolute error δ of its argument into a relative error δ of every p, so
// |Δg| <= |u|·s·p·δ with δ <= 4·ε·|lse|: for a confident row g = p − 1 is tiny while p ≈ 1, which
// is why a relative bound alone fails there. Bounds: p <= 1, |u| <= 4 (one N(0, 1) draw for the
// scalar loss), |lse| <= max|x| + ln C, s <= max_share.
Tolerance cross_entropy_grad_tolerance(const Tensor& logits, int64_t classes, double max_share) {
  double largest = 0.0;
  for (float v : logits.to_vector<float>()) largest = std::max(largest, std::abs(static_cast<double>(v)));
  const double lse = largest + std::log(static_cast<double>(classes));
  return Tolerance{4.0 * max_share * 4.0 * FLT_EPSILON * lse, 1e-5};
}

TEST(CudaCrossEntropy, ClassLabelsWeightsAndIgnoreIndex) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(13);
  for (int64_t C : {3, 17, 1000}) {
    for (int64_t N : {1, 5}) {
      Tensor logits = random_normal({N, C}, gen, 3.0f);
      Tensor labels = testing::random_labels({N}, C, gen, N > 1 ? 1 : 0);
      Tensor weights = rand_uniform({C}, 0.5f, 2.0f, gen);
      for (DType dt : {DType::Int64, DType::Int32}) {
        Tensor l = labels_as(labels, dt);
        const std::string tag = "N=" + std::to_string(N) + " C=" + std::to_string(C) + " " + dtype_name(dt);
        // Weights in [0.5, 2]: a row's share w_y/Σw is at most 4/N.
        expect_cuda_matches_cpu(
            "cross_entropy " + tag,
            [l](const Inputs& in) { return cross_entropy(in[0], in[0].device() == Device::CUDA ? l.to(Device::CUDA) : l); },
            {{logits}}, kTranscendental, cross_entropy_grad_tolerance(logits, C, 1.0 / N));
        expect_cuda_matches_cpu(
            "cross_entropy weighted " + tag,
            [l](const Inputs& in) {
              CrossEntropyOptions o;
              o.class_weights = in[1];
              return cross_entropy(in[0], in[0].device() == Device::CUDA ? l.to(Device::CUDA) : l, o);
            },
            {{logits}, {weights, false}}, kTranscendental, cross_entropy_grad_tolerance(logits, C, 4.0 / N));
      }
    }
  }
}

TEST(CudaCrossEntropy, PerPixelWithIgnoredAndAllIgnored) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(14);
  for (const Shape& s : std::vector<Shape>{{1, 3, 7, 9}, {2, 17, 5, 3}, {2, 65, 1, 1}, {2, 21, 33, 47}}) {
    Tensor logits = random_normal(s, gen, 3.0f);
    const int64_t positions = s[0] * s[2] * s[3];
    Tensor labels = testing::random_labels({s[0], s[2], s[3]}, s[1], gen, positions / 4, 255);
    CrossEntropyOptions o;
    o.ignore_index = 255;
    expect_cuda_matches_cpu(
        "cross_entropy per pixel " + shape_str(s),
        [labels, o](const Inputs& in) {
          return cross_entropy(in[0], in[0].device() == Device::CUDA ? labels.to(Device::CUDA) : labels, o);
        },
        {{logits}}, kTranscendental, cross_entropy_grad_tolerance(logits, s[1], 1.0 / (positions - positions / 4)));
  }
  // Every pixel ignored: nan loss and a zero gradient on both.
  Tensor logits = random_normal({2, 5, 3, 3}, gen);
  Tensor ignored = Tensor::from_vector(std::vector<int64_t>(18, -100), {2, 3, 3}, Device::CUDA);
  Tensor x = logits.to(Device::CUDA).set_requires_grad(true);
  Tensor loss = cross_entropy(x, ignored);
  EXPECT_TRUE(std::isnan(loss.item()));
  loss.backward();
  expect_close(x.grad(), Tensor::zeros({2, 5, 3, 3}), 0.0, 0.0, "all ignored: gradient");
}

TEST(CudaCrossEntropy, InvalidLabelIsAnErrorNamingThePosition) {
  XMKD_SKIP_WITHOUT_CUDA();
  Tensor logits = Tensor::zeros({2, 4, 3}, DType::Float32, Device::CUDA);
  // Two bad labels: the first position, (1, 0), is the one reported, as on the CPU.
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 7, 3, -5}, {2, 3}, Device::CUDA);
  const std::string message = testing::error_message([&] { cross_entropy(logits, labels); });
  EXPECT_TRUE(testing::contains(message, "cross_entropy")) << message;
  EXPECT_TRUE(testing::contains(message, "label 7 at position (1, 0)")) << message;
}

TEST(CudaLosses, KlDivergenceAndMse) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(15);
  for (const Shape& s : std::vector<Shape>{{1, 3}, {4, 1000}, {1, 3, 7, 9}, {2, 17, 5, 3}}) {
    Tensor st = random_normal(s, gen, 2.0f), te = random_normal(s, gen, 2.0f);
    expect_cuda_matches_cpu("kl_div_logits " + shape_str(s), [](const Inputs& in) { return kl_div_logits(in[0], in[1]); },
                            {{st}, {te}}, kTranscendental, kTranscendental);
    expect_cuda_matches_cpu("kl_div_with_temperature " + shape_str(s),
                            [](const Inputs& in) { return kl_div_with_temperature(in[0], in[1], 4.0f); },
                            {{st}, {te}}, kTranscendental, kTranscendental);
    expect_cuda_matches_cpu("kl_div student only " + shape_str(s),
                            [](const Inputs& in) { return kl_div_logits(in[0], in[1]); }, {{st}, {te, false}},
                            kTranscendental, kTranscendental);
    expect_cuda_matches_cpu("mse_loss " + shape_str(s), [](const Inputs& in) { return mse_loss(in[0], in[1]); },
                            {{st}, {te}}, kDoubleSum, kExact);
  }
}

TEST(CudaSimilarity, CosineSimilarityAndL2Normalize) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(16);
  for (const Shape& s : std::vector<Shape>{{1, 3}, {5, 65}, {1, 3, 7, 9}, {2, 17, 5, 3}}) {
    Tensor a = random_normal(s, gen), b = random_normal(s, gen);
    expect_cuda_matches_cpu("cosine_similarity " + shape_str(s),
                            [](const Inputs& in) { return cosine_similarity(in[0], in[1]); }, {{a}, {b}}, kDoubleSum,
                            kDoubleSum);
    expect_cuda_matches_cpu("l2_normalize " + shape_str(s), [](const Inputs& in) { return l2_normalize(in[0]); },
                            {{a}}, kDoubleSum, kDoubleSum);
    // eps = 3: most norms are clamped (|a| ~ √C), exercising both branches.
    expect_cuda_matches_cpu("cosine_similarity clamped " + shape_str(s),
                            [](const Inputs& in) { return cosine_similarity(in[0], in[1], 3.0f); }, {{a}, {b}},
                            kDoubleSum, kDoubleSum);
    expect_cuda_matches_cpu("l2_normalize clamped " + shape_str(s),
                            [](const Inputs& in) { return l2_normalize(in[0], 3.0f); }, {{a}}, kDoubleSum, kDoubleSum);
  }
}

}  // namespace
}  // namespace xmkd
