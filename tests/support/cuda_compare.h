// CPU-versus-CUDA comparison of one op, forward and backward: the CPU reference is the truth.
//
// expect_cuda_matches_cpu(what, f, inputs, forward, backward): runs f on CPU copies and on CUDA
// copies of `inputs`, compares the outputs, then runs backward on both with the same random
// N(0,1) upstream gradient and compares the gradient of every input marked `grad`.
// Tests using it skip without a device (their names contain "Cuda": ctest label gpu).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xmkd::testing {

// |cuda - cpu| <= atol + rtol·|cpu|, element-wise.
struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};

// The tolerances most comparisons use, by what differs between the backends (docs/testing.md,
// "CUDA against the CPU" gives the reasons).
constexpr Tolerance kExact{0.0, 0.0};               // one rounded expression per element, same order
constexpr Tolerance kDoubleSum{1e-6, 1e-6};         // double sums in another order
constexpr Tolerance kTranscendental{1e-6, 1e-5};    // expf/logf: 2 ulp on CUDA, 1 on the CPU
constexpr Tolerance kBatchNorm{1e-5, 1e-5};         // an ulp of the mean or invstd times |x̂|
constexpr Tolerance kGemm{1e-4, 1e-5};              // K <= 65 products in another order

struct OpInput {
  Tensor value;       // on the CPU
  bool grad = true;   // a leaf that requires grad (float32 only)
};

void expect_cuda_matches_cpu(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<OpInput>& inputs, Tolerance forward, Tolerance backward,
                             uint64_t seed = 4321);

}  // namespace xmkd::testing
