// The distillation-loss ops (losses/ops.h), the class-prototype ops (losses/contrastive.h), the
// Distiller of every kind ± LSKD and CroDiNo-KD's contrastive term, on CUDA against the CPU
// reference: forward and every input gradient (tests/support/cuda_compare.h), on awkward shapes
// (one row, C = 1000, repeated indices, absent classes, ignored pixels). Each test skips without a
// device. Tolerances, by what differs between the two backends:
//   kExact: copies, gathers, element-wise float arithmetic (one IEEE-rounded expression in the
//     same order on both sides: --fmad=false against -ffp-contract=off), and select_rows'
//     backward where equal indices are adjacent (one add of a run sum taken in the CPU's order).
//   kDoubleSum: sums in double in another order, rounded once to float (z-score, log-sum-exp
//     forward, prototype means): the floats differ by at most an ulp (1.2e-7 relative), so rtol
//     1e-6; atol 1e-6 for results that cancel to near zero.
//   kTranscendental: CUDA's expf is within 2 ulp, glibc's within 1 (sigmoid, log-sum-exp
//     backward), and an ulp of y near 1 moves 1 − y by 6e-8 absolute: rtol 1e-5, atol 1e-6.
//   kScatteredRepeats: select_rows' backward where an index repeats in separate runs adds the run
//     sums with atomicAdd in an order set by thread timing. Two orders of m = 3 terms of N(0,1)
//     size (|Σ| < 12) differ by at most 2·(m−1)·2⁻²⁴·12 ≈ 3e-6 absolute.
//   kGemm: cuBLAS (with FMA) and OpenBLAS sum K products in other orders. gram_rows_mse with
//     K <= 40 products of N(0, 0.5²) values: a Gram entry (size ~1.6) moves by at most
//     K·6e-8·Σ|ab| ≈ 1.5e-5, so the mean of squared differences and its gradient by at most ~2e-5
//     relative in the worst case: rtol 5e-5; atol 1e-6 for gradient elements near 0 (the
//     gradient moves by ~1e-7 absolute).
//   kLoss: the Distiller and the contrastive term chain exp/log (kTranscendental), cuBLAS products
//     and double sums; the same 1e-5 absolute and relative as the Distiller's PyTorch parity
//     (tests/ops/test_distill.cpp), whose differences are of the same kind (float32 roundings of
//     the same math in another order), with weights up to DKD's β·T² = 128 on a few-ulp
//     difference of probabilities divided by R rows.
//   kContrastGrad: the contrastive term's feature gradients (order 1e-3..1e-2): logits are
//     q_i·q_j / τ of unit vectors, so cuBLAS against OpenBLAS moves them by up to D·6e-8·(1/τ) =
//     5e-6 (D = 8, τ = 0.1), the softmax and the gradient terms by as much relatively, and the
//     projection of l2_normalize's backward can cancel a few digits more: rtol 1e-4, atol 1e-6.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "losses/contrastive.h"
#include "losses/distill.h"
#include "losses/ops.h"
#include "tests/support/cuda_compare.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using losses::ClassPrototypes;
using losses::Distiller;
using losses::DistillOptions;
using testing::expect_close;
using testing::expect_cuda_matches_cpu;
using testing::OpInput;
using testing::random_away_from_zero;
using testing::random_normal;
using testing::Tolerance;

constexpr Tolerance kExact{0.0, 0.0};
constexpr Tolerance kDoubleSum{1e-6, 1e-6};
constexpr Tolerance kTranscendental{1e-6, 1e-5};
constexpr Tolerance kScatteredRepeats{3e-6, 0.0};
constexpr Tolerance kGemm{1e-6, 5e-5};
constexpr Tolerance kLoss{1e-5, 1e-5};
constexpr Tolerance kContrastGrad{1e-6, 1e-4};

using Inputs = std::vector<Tensor>;

Tensor int64_tensor(const std::vector<int64_t>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }

// Labels in [0, C) for R rows, the first and the last class always among them.
Tensor row_labels(int64_t R, int64_t C, Generator& gen) {
  std::vector<int64_t> v(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) v[static_cast<size_t>(r)] = r == 0 ? 0 : r == 1 ? C - 1 : gen.randint(C);
  return int64_tensor(v, {R});
}

// ---- losses/ops.h ----------------------------------------------------------------------------------

TEST(CudaDistillOps, ZscoreRowsAndPerPixel) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(101);
  // C = 2 (the smallest), one row, C = 1000 (a warp reads 32 per lane), per-pixel inner 12 and 21.
  for (const Shape& s : std::vector<Shape>{{1, 2}, {3, 1000}, {2, 5, 3, 4}, {1, 17, 1, 1}, {4, 3, 7}}) {
    expect_cuda_matches_cpu("zscore " + shape_str(s), [](const Inputs& in) { return losses::zscore(in[0]); },
                            {{random_normal(s, gen, 2.0f)}}, kDoubleSum, kDoubleSum);
  }
  // A constant row has stdev 0: y = 0 and the backward's second term is dropped on both sides.
  std::vector<float> v(12, 3.0f);
  for (size_t j = 6; j < 12; ++j) v[j] = static_cast<float>(j) * 0.7f - 4.0f;
  expect_cuda_matches_cpu("zscore with a constant row",
                          [](const Inputs& in) { return losses::zscore(in[0], 1e-7f); },
                          {{Tensor::from_vector(v, {2, 6})}}, kDoubleSum, kDoubleSum);
}

TEST(CudaDistillOps, ToRows) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(102);
  for (const Shape& s : std::vector<Shape>{{2, 5, 3, 4}, {1, 1000, 1, 1}, {3, 7, 5}, {1, 1, 2, 3}, {4, 6}}) {
    expect_cuda_matches_cpu("to_rows " + shape_str(s), [](const Inputs& in) { return losses::to_rows(in[0]); },
                            {{random_normal(s, gen)}}, kExact, kExact);
  }
}

TEST(CudaDistillOps, SelectRowsWithUniqueAdjacentAndScatteredRepeats) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(103);
  auto select = [](const Inputs& in) { return losses::select_rows(in[0], in[1]); };
  Tensor x = random_normal({7, 5}, gen);
  expect_cuda_matches_cpu("select_rows unique", select, {{x}, {int64_tensor({6, 0, 3}, {3}), false}}, kExact, kExact);
  expect_cuda_matches_cpu("select_rows adjacent repeats", select,
                          {{x}, {int64_tensor({3, 3, 0, 6, 6, 6}, {6}), false}}, kExact, kExact);
  expect_cuda_matches_cpu("select_rows scattered repeats", select,
                          {{x}, {int64_tensor({1, 4, 1, 1, 0, 4, 1}, {7}), false}}, kExact, kScatteredRepeats);
  expect_cuda_matches_cpu("select_rows one row, C = 1000", select,
                          {{random_normal({1, 1000}, gen)}, {int64_tensor({0, 0, 0}, {3}), false}}, kExact, kExact);
  // The distillation losses' case: the labelled positions, increasing with gaps.
  std::vector<int64_t> kept;
  for (int64_t r = 0; r < 300; ++r)
    if (r % 7 != 3) kept.push_back(r);
  expect_cuda_matches_cpu("select_rows labelled positions", select,
                          {{random_normal({300, 19}, gen)}, {int64_tensor(kept, {static_cast<int64_t>(kept.size())}), false}},
                          kExact, kExact);
}

TEST(CudaDistillOps, AddAtLabelsAndGatherLabels) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(104);
  for (const Shape& s : std::vector<Shape>{{1, 1}, {6, 5}, {4, 1000}, {33, 2}}) {
    const std::string tag = shape_str(s);
    Tensor x = random_normal(s, gen), labels = row_labels(s[0], s[1], gen);
    for (float value : {-1000.0f, 2.5f}) {
      expect_cuda_matches_cpu("add_at_labels " + tag + " value " + std::to_string(value),
                              [value](const Inputs& in) { return losses::add_at_labels(in[0], in[1], value); },
                              {{x}, {labels, false}}, kExact, kExact);
    }
    expect_cuda_matches_cpu("gather_labels " + tag,
                            [](const Inputs& in) { return losses::gather_labels(in[0], in[1]); },
                            {{x}, {labels, false}}, kExact, kExact);
  }
}

TEST(CudaDistillOps, LogSumExpRows) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(105);
  for (const Shape& s : std::vector<Shape>{{1, 1}, {6, 5}, {3, 1000}, {2, 33}}) {
    expect_cuda_matches_cpu("logsumexp_rows " + shape_str(s),
                            [](const Inputs& in) { return losses::logsumexp_rows(in[0]); },
                            {{random_normal(s, gen, 3.0f)}}, kDoubleSum, kTranscendental);
  }
  // DKD's masked rows: the target logit lowered by 1000, whose exp() is 0 on both sides.
  Tensor x = random_normal({6, 5}, gen, 3.0f), labels = row_labels(6, 5, gen);
  expect_cuda_matches_cpu(
      "logsumexp_rows of masked rows",
      [](const Inputs& in) { return losses::logsumexp_rows(losses::add_at_labels(in[0], in[1], -1000.0f)); },
      {{x}, {labels, false}}, kDoubleSum, kTranscendental);
}

TEST(CudaDistillOps, SigmoidAndReciprocal) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(106);
  for (const Shape& s : std::vector<Shape>{{1}, {3, 1000}, {2, 5, 3, 4}}) {
    const std::string tag = shape_str(s);
    expect_cuda_matches_cpu("sigmoid " + tag, [](const Inputs& in) { return losses::sigmoid(in[0]); },
                            {{random_normal(s, gen, 4.0f)}}, kTranscendental, kTranscendental);
    // |x| >= 0.25: 1/x stays finite and of moderate size; IEEE division on both sides.
    expect_cuda_matches_cpu("reciprocal " + tag, [](const Inputs& in) { return losses::reciprocal(in[0]); },
                            {{random_away_from_zero(s, 0.25f, 3.0f, gen)}}, kExact, kExact);
  }
}

TEST(CudaDistillOps, GramRowsMseBothForms) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(107);
  for (const Shape& s : std::vector<Shape>{{1, 5}, {6, 5}, {40, 17}}) {
    Tensor a = random_normal(s, gen, 0.5f), b = random_normal(s, gen, 0.5f);
    // direct_max_rows 1024: the R×R Gram matrices; 0: the C×C products.
    for (int64_t direct_max_rows : {int64_t{1024}, int64_t{0}}) {
      expect_cuda_matches_cpu(
          "gram_rows_mse " + shape_str(s) + " direct_max_rows " + std::to_string(direct_max_rows),
          [direct_max_rows](const Inputs& in) { return losses::gram_rows_mse(in[0], in[1], direct_max_rows); },
          {{a}, {b}}, kGemm, kGemm);
    }
  }
}

TEST(CudaDistillOps, BadIndicesAreErrorsOnCudaToo) {
  XMKD_SKIP_WITHOUT_CUDA();
  Tensor x = Tensor::zeros({3, 4}, DType::Float32, Device::CUDA);
  testing::expect_error_naming(
      [&] { losses::select_rows(x, int64_tensor({0, 3}, {2}).to(Device::CUDA)); }, "select_rows", "= 3");
  testing::expect_error_naming(
      [&] { losses::gather_labels(x, int64_tensor({0, 4, 1}, {3}).to(Device::CUDA)); }, "gather_labels", "= 4");
}

// ---- losses/contrastive.h ---------------------------------------------------------------------------

TEST(CudaContrastiveOps, ResizeLabelsNearest) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(111);
  struct Case {
    int64_t N, H, W, h, w;
  };
  // Integer and fractional ratios, upsampling, a single row or column, a 1×1 output.
  for (const Case& c : std::vector<Case>{{2, 16, 10, 4, 4}, {1, 3, 5, 7, 2}, {3, 1, 5, 4, 1}, {1, 9, 9, 1, 1}}) {
    Tensor labels = testing::random_labels({c.N, c.H, c.W}, 19, gen, c.H * c.W / 4, 255);
    Tensor cpu = losses::resize_labels_nearest(labels, c.h, c.w);
    Tensor gpu = losses::resize_labels_nearest(labels.to(Device::CUDA), c.h, c.w);
    ASSERT_EQ(gpu.device(), Device::CUDA);
    ASSERT_EQ(gpu.shape(), cpu.shape());
    EXPECT_EQ(gpu.to_vector<int64_t>(), cpu.to_vector<int64_t>()) << shape_str(labels.shape()) << " -> " << c.h << "x" << c.w;
  }
}

// class_prototypes on both devices: the same (sample, class) keys, prototypes within kDoubleSum
// (means of double sums), and the feature gradient exact (a gather of grad / count).
void expect_prototypes_match(const std::string& what, const Tensor& features, const Tensor& labels,
                             int64_t num_classes) {
  ClassPrototypes cpu = losses::class_prototypes(features, labels, num_classes);
  ClassPrototypes gpu = losses::class_prototypes(features.to(Device::CUDA), labels.to(Device::CUDA), num_classes);
  EXPECT_EQ(gpu.samples, cpu.samples) << what;
  EXPECT_EQ(gpu.classes, cpu.classes) << what;
  expect_cuda_matches_cpu(
      what, [num_classes](const Inputs& in) { return losses::class_prototypes(in[0], in[1], num_classes).prototypes; },
      {{features}, {labels, false}}, kDoubleSum, kExact);
}

TEST(CudaContrastiveOps, ClassPrototypes) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(112);
  // Classes 4 and 5 absent everywhere, some pixels ignored.
  expect_prototypes_match("absent classes", random_normal({2, 3, 4, 5}, gen),
                          testing::random_labels({2, 4, 5}, 4, gen, 6, 255), 6);
  // Sample 1 entirely ignored: no rows, zero gradient.
  std::vector<int64_t> v(3 * 12);
  for (size_t j = 0; j < v.size(); ++j) v[j] = j / 12 == 1 ? 255 : static_cast<int64_t>(j % 3);
  expect_prototypes_match("an all-ignored sample", random_normal({3, 4, 3, 4}, gen), int64_tensor(v, {3, 3, 4}), 3);
  // 1000 classes, almost all absent; D = 1; 1×1 maps; hw = 1155 > 32 lanes per warp.
  expect_prototypes_match("1000 classes", random_normal({2, 5, 6, 7}, gen),
                          testing::random_labels({2, 6, 7}, 1000, gen, 5, 255), 1000);
  expect_prototypes_match("D = 1", random_normal({2, 1, 3, 3}, gen), testing::random_labels({2, 3, 3}, 2, gen), 2);
  expect_prototypes_match("1x1 maps", random_normal({4, 6, 1, 1}, gen), testing::random_labels({4, 1, 1}, 3, gen), 3);
  expect_prototypes_match("large map", random_normal({1, 4, 33, 35}, gen),
                          testing::random_labels({1, 33, 35}, 5, gen, 100, 255), 5);
}

TEST(CudaContrastiveOps, EveryPixelIgnoredAndBadLabels) {
  XMKD_SKIP_WITHOUT_CUDA();
  Tensor features = Tensor::ones({2, 3, 2, 2}, Device::CUDA);
  Tensor all_ignored = int64_tensor(std::vector<int64_t>(8, 255), {2, 2, 2}).to(Device::CUDA);
  ClassPrototypes p = losses::class_prototypes(features, all_ignored, 3);
  EXPECT_EQ(p.size(), 0);
  EXPECT_EQ(p.prototypes.shape(), (Shape{0, 3}));
  EXPECT_EQ(p.prototypes.device(), Device::CUDA);
  // Two bad labels (9 at position 5, 7 at 6): the first is reported, as on the CPU.
  std::string message = testing::error_message([&] {
    losses::class_prototypes(features, int64_tensor({0, 1, 255, 255, 1, 9, 7, 2}, {2, 2, 2}).to(Device::CUDA), 4);
  });
  EXPECT_TRUE(testing::contains(message, "class_prototypes")) << message;
  EXPECT_TRUE(testing::contains(message, "label 9 in sample 1")) << message;
  message = testing::error_message([&] {
    losses::class_prototypes(features, int64_tensor({0, -1, 255, 255, 1, 9, 7, 2}, {2, 2, 2}).to(Device::CUDA), 4);
  });
  EXPECT_TRUE(testing::contains(message, "label -1 in sample 0")) << message;
}

TEST(CudaContrastive, CrossModalPrototypeContrast) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(113);
  const float tau = 0.1f;
  auto contrast = [tau](size_t modalities, int64_t classes) {
    return [=](const Inputs& in) {
      return losses::cross_modal_prototype_contrast(Inputs(in.begin(), in.begin() + modalities),
                                                    Inputs(in.begin() + modalities, in.end()), classes, tau);
    };
  };
  // Two modalities at different feature resolutions, label maps at 12×12, some pixels ignored.
  Tensor f0 = random_normal({2, 8, 6, 6}, gen), f1 = random_normal({2, 8, 3, 3}, gen);
  Tensor l0 = testing::random_labels({2, 12, 12}, 5, gen, 20, 255), l1 = testing::random_labels({2, 12, 12}, 5, gen, 20, 255);
  expect_cuda_matches_cpu("contrast, 2 modalities", contrast(2, 5), {{f0}, {f1}, {l0, false}, {l1, false}}, kLoss,
                          kContrastGrad);
  // Three modalities, 19 classes (many absent): the mean over three pairs.
  Tensor f2 = random_normal({2, 8, 6, 6}, gen);
  Tensor m0 = testing::random_labels({2, 12, 12}, 19, gen, 30, 255), m1 = testing::random_labels({2, 12, 12}, 19, gen),
         m2 = testing::random_labels({2, 12, 12}, 19, gen, 144, 255);
  expect_cuda_matches_cpu("contrast, 3 modalities", contrast(3, 19),
                          {{f0}, {f1}, {f2}, {m0, false}, {m1, false}, {m2, false}}, kLoss, kContrastGrad);
  // Every pixel of one modality ignored: nothing shared, a zero with a zero gradient.
  Tensor none = int64_tensor(std::vector<int64_t>(2 * 12 * 12, 255), {2, 12, 12});
  expect_cuda_matches_cpu("contrast, nothing shared", contrast(2, 5), {{f0}, {f1}, {l0, false}, {none, false}}, kExact,
                          kExact);
}

// ---- losses/distill.h -------------------------------------------------------------------------------

DistillOptions options_for(const std::string& kind, bool lskd) {
  DistillOptions o;
  o.kind = kind;
  o.lskd = lskd;
  if (kind == "dkd") o.alpha = 1.0;
  return o;
}

TrainProgress some_progress() {
  TrainProgress p;
  p.epoch = 2;
  p.epochs = 10;
  p.step = 1;
  p.steps_per_epoch = 4;
  return p;
}

// One Distiller per device (CTKD's temperature parameter moved to CUDA), the same logits: the
// total, every part, d total / d student, and CTKD's d total / d θ.
void expect_distiller_matches(const std::string& what, const DistillOptions& options, const Tensor& student,
                              const Tensor& teacher, const Tensor& labels) {
  Distiller cpu(options), gpu(options);
  gpu.to(Device::CUDA);
  Tensor s_cpu = student.clone().set_requires_grad(true), s_gpu = student.to(Device::CUDA).clone().set_requires_grad(true);
  LossTerms l_cpu = cpu.loss(s_cpu, teacher, labels, some_progress());
  LossTerms l_gpu = gpu.loss(s_gpu, teacher.to(Device::CUDA), labels.to(Device::CUDA), some_progress());
  ASSERT_EQ(l_gpu.total.device(), Device::CUDA) << what;
  expect_close(l_gpu.total, l_cpu.total, kLoss.atol, kLoss.rtol, what + ": total");
  ASSERT_EQ(l_gpu.parts.size(), l_cpu.parts.size()) << what;
  for (size_t i = 0; i < l_cpu.parts.size(); ++i) {
    ASSERT_EQ(l_gpu.parts[i].first, l_cpu.parts[i].first) << what;
    expect_close(l_gpu.parts[i].second, l_cpu.parts[i].second, kLoss.atol, kLoss.rtol,
                 what + ": part " + l_cpu.parts[i].first);
  }
  if (!l_cpu.total.requires_grad()) return;
  l_cpu.total.backward();
  l_gpu.total.backward();
  expect_close(s_gpu.grad(), s_cpu.grad(), kLoss.atol, kLoss.rtol, what + ": d total / d student");
  const std::vector<Tensor> p_cpu = cpu.parameters(), p_gpu = gpu.parameters();
  ASSERT_EQ(p_gpu.size(), p_cpu.size()) << what;
  for (size_t i = 0; i < p_cpu.size(); ++i) {
    ASSERT_EQ(p_gpu[i].device(), Device::CUDA) << what;
    // CTKD's θ gets no gradient when no position is labelled (the KD term is a constant 0).
    ASSERT_EQ(p_gpu[i].grad().defined(), p_cpu[i].grad().defined()) << what;
    if (!p_cpu[i].grad().defined()) continue;
    expect_close(p_gpu[i].grad(), p_cpu[i].grad(), kLoss.atol, kLoss.rtol, what + ": d total / d parameter");
  }
}

const char* const kKinds[] = {"kdv1", "kdv2", "dkd", "ctkd", "mlkd"};

TEST(CudaDistiller, EveryKindClassification) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(121);
  // (6, 5), and one row of 1000 classes.
  for (const Shape& s : std::vector<Shape>{{6, 5}, {1, 1000}}) {
    Tensor student = random_normal(s, gen, 2.0f), teacher = random_normal(s, gen, 2.0f);
    Tensor labels = testing::random_labels({s[0]}, s[1], gen);
    for (const char* kind : kKinds)
      for (bool lskd : {false, true})
        expect_distiller_matches(std::string(kind) + (lskd ? " lskd " : " ") + shape_str(s), options_for(kind, lskd),
                                 student, teacher, labels);
  }
}

TEST(CudaDistiller, EveryKindPerPixel) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(122);
  const Shape s{2, 5, 3, 4};
  Tensor student = random_normal(s, gen, 2.0f), teacher = random_normal(s, gen, 2.0f);
  Tensor labels = testing::random_labels({2, 3, 4}, 5, gen, 5, 255);
  std::vector<int64_t> lv = labels.to_vector<int64_t>();
  Tensor labels32 = Tensor::from_vector(std::vector<int32_t>(lv.begin(), lv.end()), labels.shape());
  for (const char* kind : kKinds)
    for (bool lskd : {false, true}) {
      const std::string what = std::string(kind) + (lskd ? " lskd" : "") + " per pixel";
      expect_distiller_matches(what, options_for(kind, lskd), student, teacher, labels);
      expect_distiller_matches(what + " int32 labels", options_for(kind, lskd), student, teacher, labels32);
    }
}

// Every pixel ignored: no rows (select_rows of 0 rows), every distillation term 0, the CE NaN
// (0/0, as PyTorch) on both devices.
TEST(CudaDistiller, EveryPixelIgnored) {
  XMKD_SKIP_WITHOUT_CUDA();
  Generator gen(123);
  const Shape s{1, 3, 2, 2};
  Tensor student = random_normal(s, gen), teacher = random_normal(s, gen);
  Tensor labels = int64_tensor(std::vector<int64_t>(4, 255), {1, 2, 2});
  for (const char* kind : kKinds)
    for (bool lskd : {false, true})
      expect_distiller_matches(std::string(kind) + (lskd ? " lskd" : "") + " all ignored", options_for(kind, lskd),
                               student, teacher, labels);
}

}  // namespace
}  // namespace xmkd
