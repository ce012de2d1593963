#include "tests/support/op_cases.h"

#include <cctype>

#include "engine/distributed.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "losses/contrastive.h"
#include "losses/ops.h"

namespace xmkd::testing {
namespace {

using Inputs = std::vector<Tensor>;

// CPU-vs-CUDA tolerances, by what differs between the backends (tests/ops/test_cuda_ops.cpp says
// more): the same IEEE expressions in the same order (both built without FMA contraction), sums
// accumulated in double in another order, float sums of a few dozen terms, libm's transcendental
// functions (CUDA's within 2 ulp, glibc's within 1), and GEMM-like sums of K products in another
// order (the float bound K·6e-8·Σ|a·b|).
constexpr Tolerance kFloatSum{1e-6, 1e-5};
constexpr const char* kExactReason = "one rounded expression per element, evaluated in the same order on both";
constexpr const char* kSumReason = "double sums in another order: an ulp or two of the float results";
constexpr const char* kGemmReason = "K products summed in another order: within K·6e-8·Σ|a·b|";
constexpr const char* kTranscendentalReason = "expf/logf within 2 ulp on CUDA, 1 on the CPU, propagated";

// Default finite differences (h = 1e-2, atol = rtol = 1e-3): exact for ops linear or quadratic in
// each input; curved ops take h = 1e-3 (O(h²) truncation below the tolerance).
GradcheckOptions linear() { return {}; }
GradcheckOptions curved() {
  GradcheckOptions o;
  o.step = 1e-3;
  return o;
}
constexpr const char* kLinearReason = "linear or quadratic in each input: central differences are exact up to rounding";
constexpr const char* kCurvedReason = "smooth and curved: h = 1e-3 keeps the O(h²) truncation below 1e-3";

OpInput grad(Tensor t) { return {std::move(t), true}; }
OpInput fixed(Tensor t) { return {std::move(t), false}; }

// The parameter after two steps of `make`'s optimizer with gradient in[1] (fixed inputs).
Tensor after_two_steps(const Inputs& in, const std::function<std::unique_ptr<optim::Optimizer>(NamedTensors)>& make) {
  Tensor p = in[0].clone().set_requires_grad(true);
  std::unique_ptr<optim::Optimizer> optimizer = make({{"p", p}});
  for (int step = 0; step < 2; ++step) {
    p.set_grad(in[1].clone());
    optimizer->step();
  }
  return p.detach();
}

std::vector<OpCase> build_cases() {
  std::vector<OpCase> cases;
  auto add_case = [&](OpCase c) { cases.push_back(std::move(c)); };

  // --- core and elementwise ---
  add_case({"core/fill_and_accumulate", {"fill", "axpy", "add_forward", "mul_forward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({5, 7}, g))}; },
            [](const Inputs& in) {
              // x is used three times, so its gradient accumulates (axpy); the constant is a fill.
              return add(add(in[0], mul(in[0], in[0])), Tensor::full(in[0].shape(), 0.5f, in[0].device()));
            },
            linear(), kLinearReason, kExact, kExact, kExactReason});
  add_case({"elementwise/same_shape", {"add_forward", "sub_forward", "mul_forward", "scale_forward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 17, 5, 3}, g)), grad(random_normal({2, 17, 5, 3}, g))};
            },
            [](const Inputs& in) { return scale(sub(mul(in[0], in[1]), add(in[0], in[1])), 0.5f); }, linear(),
            kLinearReason, kExact, kExact, kExactReason});
  add_case({"elementwise/channel_bias", {"bias_add", "channel_sum"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 4, 5, 5}, g)), grad(random_normal({4}, g))}; },
            [](const Inputs& in) { return add(in[0], in[1]); }, linear(), kLinearReason, kExact, kDoubleSum,
            "forward exact; the bias gradient is a double sum over (N, H, W)"});
  add_case({"elementwise/scalar_operand", {"add_scalar_tensor", "mul_scalar_tensor", "sum_all", "dot"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({4, 9}, g)), grad(random_normal({1}, g))}; },
            [](const Inputs& in) { return mul(add(in[0], in[1]), in[1]); }, linear(), kLinearReason, kExact, kDoubleSum,
            "forward exact; the scalar's gradient is a double sum (sum_all) and a dot product"});
  add_case({"elementwise/relu", {"relu_forward", "relu_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_away_from_zero({2, 17, 5, 3}, 0.05f, 1.0f, g))}; },
            [](const Inputs& in) { return relu(in[0]); }, linear(),
            "inputs at least 0.05 from the kink, h = 1e-2: piecewise linear and never straddled", kExact, kExact,
            kExactReason});
  add_case({"elementwise/add_relu", {"add_relu_forward", "relu_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_away_from_zero({3, 4, 8, 8}, 0.1f, 1.0f, g)),
                                          grad(random_away_from_zero({3, 4, 8, 8}, 0.1f, 1.0f, g))};
            },
            [](const Inputs& in) { return add_relu(in[0], scale(in[1], 0.01f)); }, linear(),
            "a + 0.01·b stays at least 0.09 from the kink: piecewise linear and never straddled", kExact, kExact,
            kExactReason});
  add_case({"reduce/sum_and_mean", {"sum_all", "broadcast_scalar"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 65}, g))}; },
            [](const Inputs& in) { return add(sum(in[0]), scale(mean(in[0]), 3.0f)); }, linear(), kLinearReason,
            kDoubleSum, kExact, kSumReason});

  // --- linear algebra, convolution ---
  add_case({"linalg/linear", {"gemm", "bias_add", "channel_sum"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({5, 17}, g)), grad(random_normal({9, 17}, g, 0.5f)),
                                          grad(random_normal({9}, g))};
            },
            [](const Inputs& in) { return linear(in[0], in[1], in[2]); }, linear(), kLinearReason, kGemm, kGemm,
            kGemmReason});
  for (const auto& [tag, stride, pad] : std::vector<std::tuple<std::string, int, int>>{{"3x3", 1, 1}, {"strided", 2, 0}}) {
    const int s = stride, p = pad;
    add_case({"conv2d/" + tag, {"conv2d_workspace", "conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"},
              [](Generator& g) {
                return std::vector<OpInput>{grad(random_normal({2, 3, 7, 6}, g)), grad(random_normal({4, 3, 3, 3}, g, 0.5f)),
                                            grad(random_normal({4}, g))};
              },
              [s, p](const Inputs& in) {
                Conv2dOptions o;
                o.stride = s;
                o.padding = p;
                return conv2d(in[0], in[1], in[2], o);
              },
              linear(), kLinearReason, kGemm, kGemm, "K = C·R·S = 27 products summed in another order"});
  }

  // --- pooling and resizing ---
  add_case({"pool/max_pool2d", {"max_pool2d_forward", "max_pool2d_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_distinct({2, 3, 7, 7}, 0.05f, g))}; },
            [](const Inputs& in) { return max_pool2d(in[0], 3, 2, 1); }, linear(),
            "values at least 0.05 apart (> 2h): no window's arg-max changes under ±h", kExact, kExact, kExactReason});
  add_case({"pool/adaptive_avg_pool2d", {"adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({1, 3, 7, 9}, g))}; },
            [](const Inputs& in) { return adaptive_avg_pool2d(in[0], 3, 2); }, linear(), kLinearReason, kExact, kExact,
            kExactReason});
  add_case({"pool/global_avg_pool", {"global_avg_pool_forward", "global_avg_pool_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({2, 17, 5, 3}, g))}; },
            [](const Inputs& in) { return global_avg_pool(in[0]); }, linear(), kLinearReason, kFloatSum, kExact,
            "the CPU sums each plane in float lanes, CUDA in double: a float sum of 15 terms"});
  add_case({"pool/upsample_bilinear", {"upsample_bilinear_forward", "upsample_bilinear_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({1, 3, 4, 5}, g))}; },
            [](const Inputs& in) { return upsample_bilinear(in[0], 9, 7); }, linear(), kLinearReason, kExact, kExact,
            "the backward gathers in the CPU's scatter order"});

  // --- normalisation, shape ---
  add_case({"norm/batch_norm_training", {"batchnorm_workspace", "batchnorm_forward_training", "batchnorm_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({4, 3, 2, 2}, g)), grad(random_normal({3}, g)),
                                          grad(random_normal({3}, g))};
            },
            [](const Inputs& in) {
              return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), /*training=*/true, 0.1f, 1e-5f);
            },
            curved(), kCurvedReason, kBatchNorm, kBatchNorm,
            "an ulp of the batch mean or invstd moves every normalised value by that ulp times |x̂|"});
  // One rank: the split kernels of synchronised batch norm; the running statistics (the sums'
  // shift) are copied per evaluation, so the finite differences see the same shift each time.
  add_case({"norm/sync_batch_norm_one_rank",
            {"batchnorm_stats", "batchnorm_shifted_mean", "batchnorm_forward_from_sums", "batchnorm_backward",
             "batchnorm_backward_from_sums"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(add(Tensor::full({4, 3, 2, 2}, 2.0f), random_normal({4, 3, 2, 2}, g))),
                                          grad(random_normal({3}, g)), grad(random_normal({3}, g)),
                                          fixed(random_normal({3}, g)), fixed(Tensor::full({3}, 1.0f))};
            },
            [](const Inputs& in) {
              static LocalCommunicator one_rank;
              return sync_batch_norm(in[0], in[1], in[2], in[3].clone(), in[4].clone(), one_rank, 0.1f, 1e-5f);
            },
            curved(), kCurvedReason, kBatchNorm, kBatchNorm,
            "an ulp of the batch mean or invstd moves every normalised value by that ulp times |x̂|"});
  add_case({"norm/batch_norm_inference", {"batchnorm_forward_inference", "batchnorm_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 3, 3, 3}, g)), grad(random_normal({3}, g)),
                                          grad(random_normal({3}, g)), fixed(random_normal({3}, g)),
                                          fixed(add(Tensor::full({3}, 1.5f), scale(random_normal({3}, g), 0.2f)))};
            },
            [](const Inputs& in) { return batch_norm(in[0], in[1], in[2], in[3], in[4], /*training=*/false, 0.1f, 1e-5f); },
            linear(), "an affine map of x, weight and bias with constant statistics", kBatchNorm, kBatchNorm,
            "1/sqrt in float on both sides, propagated through the affine map"});
  add_case({"shape/concat_and_slice", {"copy_channels"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 3, 4, 4}, g)), grad(random_normal({2, 5, 4, 4}, g))};
            },
            [](const Inputs& in) { return slice_channels(concat_channels({in[0], in[1]}), 1, 7); }, linear(),
            kLinearReason, kExact, kExact, "copies"});

  // --- probabilities, losses, similarities ---
  add_case({"softmax/softmax", {"softmax_forward", "softmax_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 5, 2, 3}, g))}; },
            [](const Inputs& in) { return softmax(in[0]); }, curved(), kCurvedReason, kTranscendental, kTranscendental,
            kTranscendentalReason});
  add_case({"softmax/log_softmax", {"log_softmax_forward", "log_softmax_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({4, 7}, g))}; },
            [](const Inputs& in) { return log_softmax(in[0]); }, curved(), kCurvedReason, kTranscendental,
            kTranscendental, kTranscendentalReason});
  add_case({"loss/cross_entropy_int32_weighted", {"widen_labels", "cross_entropy_forward", "cross_entropy_backward"},
            [](Generator& g) {
              Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3, 1, 2, 3, 0}, {6});
              return std::vector<OpInput>{grad(random_normal({6, 4}, g)), fixed(labels),
                                          fixed(add(Tensor::full({4}, 1.0f), scale(random_normal({4}, g), 0.3f)))};
            },
            [](const Inputs& in) {
              CrossEntropyOptions o;
              o.class_weights = in[2];
              return cross_entropy(in[0], in[1], o);
            },
            curved(), kCurvedReason, kTranscendental, kTranscendental, kTranscendentalReason});
  add_case({"loss/cross_entropy_per_pixel_ignore", {"cross_entropy_forward", "cross_entropy_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 5, 3, 4}, g)),
                                          fixed(random_labels({2, 3, 4}, 5, g, /*ignored=*/5, kIgnoreLabel))};
            },
            [](const Inputs& in) {
              CrossEntropyOptions o;
              o.ignore_index = kIgnoreLabel;
              return cross_entropy(in[0], in[1], o);
            },
            curved(), kCurvedReason, kTranscendental, kTranscendental, kTranscendentalReason});
  add_case({"loss/kl_div_with_temperature", {"kl_div_forward", "kl_div_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({5, 6}, g)), grad(random_normal({5, 6}, g))}; },
            [](const Inputs& in) { return kl_div_with_temperature(in[0], in[1], 2.0f); }, curved(), kCurvedReason,
            kTranscendental, kTranscendental, kTranscendentalReason});
  add_case({"similarity/mse_loss", {"mse_forward", "mse_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 17}, g)), grad(random_normal({3, 17}, g))}; },
            [](const Inputs& in) { return mse_loss(in[0], in[1]); }, linear(), kLinearReason, kDoubleSum, kExact,
            kSumReason});
  add_case({"similarity/cosine_similarity", {"cosine_similarity_forward", "cosine_similarity_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 6, 3, 3}, g)), grad(random_normal({2, 6, 3, 3}, g))};
            },
            [](const Inputs& in) { return cosine_similarity(in[0], in[1]); }, curved(), kCurvedReason, kDoubleSum,
            kDoubleSum, "norms and dot products summed in double in another order"});
  add_case({"similarity/l2_normalize", {"l2_normalize_forward", "l2_normalize_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({4, 9}, g))}; },
            [](const Inputs& in) { return l2_normalize(in[0]); }, curved(), kCurvedReason, kDoubleSum, kDoubleSum,
            "norms summed in double in another order"});

  // --- distillation ops (losses/ops.h) ---
  add_case({"distill/zscore", {"zscore_forward", "zscore_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 8}, g))}; },
            [](const Inputs& in) { return losses::zscore(in[0]); }, curved(), kCurvedReason, kDoubleSum, kDoubleSum,
            "mean and std summed in double in another order"});
  add_case({"distill/rows_select_and_back", {"dim1_to_rows", "rows_to_dim1", "gather_rows", "scatter_add_rows"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({2, 3, 2, 2}, g))}; },
            [](const Inputs& in) {
              // Rows 0..7 of the (8, 3) positions, some twice: their gradients add up.
              const Tensor index = Tensor::from_vector(std::vector<int64_t>{0, 3, 3, 7, 5}, {5}, in[0].device());
              return losses::select_rows(losses::to_rows(in[0]), index);
            },
            linear(), kLinearReason, kExact, Tolerance{3e-6, 0.0},
            "copies; a repeated row's gradient is a sum of a few terms in another order"});
  add_case({"distill/labels_logsumexp", {"add_at_labels_forward", "gather_labels_forward", "gather_labels_backward",
                                         "logsumexp_rows_forward", "logsumexp_rows_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({5, 4}, g)),
                                          fixed(Tensor::from_vector(std::vector<int64_t>{1, 0, 3, 3, 2}, {5}))};
            },
            [](const Inputs& in) {
              const Tensor labels = in[1].to(in[0].device());
              return add(losses::logsumexp_rows(losses::add_at_labels(in[0], labels, -1.5f)),
                         losses::gather_labels(in[0], labels));
            },
            curved(), kCurvedReason, kTranscendental, kTranscendental, kTranscendentalReason});
  add_case({"distill/sigmoid_reciprocal", {"sigmoid_forward", "sigmoid_backward", "reciprocal_forward",
                                           "reciprocal_backward"},
            [](Generator& g) { return std::vector<OpInput>{grad(random_normal({3, 7}, g))}; },
            [](const Inputs& in) { return losses::reciprocal(add(losses::sigmoid(in[0]), Tensor::full({1}, 0.5f, in[0].device()))); },
            curved(), kCurvedReason, kTranscendental, kTranscendental, kTranscendentalReason});

  // --- CroDiNo-KD's prototypes (losses/contrastive.h) ---
  add_case({"contrastive/class_prototypes", {"resize_labels_nearest", "class_pixel_counts", "class_prototypes_forward",
                                             "class_prototypes_backward"},
            [](Generator& g) {
              return std::vector<OpInput>{grad(random_normal({2, 4, 3, 3}, g)),
                                          fixed(random_labels({2, 6, 6}, 3, g, /*ignored=*/4, kIgnoreLabel))};
            },
            [](const Inputs& in) {
              const Tensor labels = losses::resize_labels_nearest(in[1].to(in[0].device()), 3, 3);
              return losses::class_prototypes(in[0], labels, 3).prototypes;
            },
            linear(), "masked averages: linear in the features", kDoubleSum, kExact,
            "per-class sums in double in another order; the backward is a gather"});

  // --- optimizers: two steps from the same parameter and gradient ---
  add_case({"optim/sgd_momentum", {"sgd_update"},
            [](Generator& g) { return std::vector<OpInput>{fixed(random_normal({17, 3}, g)), fixed(random_normal({17, 3}, g))}; },
            [](const Inputs& in) {
              return after_two_steps(in, [](NamedTensors p) {
                optim::SGDOptions o;
                o.lr = 0.1;
                o.momentum = 0.9;
                o.weight_decay = 1e-4;
                o.nesterov = true;
                return std::make_unique<optim::SGD>(std::move(p), o);
              });
            },
            std::nullopt, "an update rule, not a differentiable op", Tolerance{0.0, 1e-6}, kExact,
            "the same formula; CUDA fuses where the CPU calls std::fma"});
  add_case({"optim/adamw", {"adam_update"},
            [](Generator& g) { return std::vector<OpInput>{fixed(random_normal({65}, g)), fixed(random_normal({65}, g))}; },
            [](const Inputs& in) {
              return after_two_steps(in, [](NamedTensors p) {
                optim::AdamOptions o;
                o.lr = 1e-2;
                o.weight_decay = 1e-2;
                return std::make_unique<optim::AdamW>(std::move(p), o);
              });
            },
            std::nullopt, "an update rule, not a differentiable op", Tolerance{0.0, 1e-6}, kExact,
            "sqrt and division in float on both sides, the same order"});
  return cases;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build_cases();
  return cases;
}

std::string op_case_test_name(size_t index) {
  std::string name = op_cases().at(index).name;
  for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

}  // namespace xmkd::testing
