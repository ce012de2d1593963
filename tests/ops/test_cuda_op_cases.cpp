// Every case of the op-case table (tests/support/op_cases.h) on CUDA against the CPU reference:
// the forward result and the gradient of every differentiable input, with the case's tolerances.
// Skips without a device.
#include <gtest/gtest.h>

#include "tests/support/cuda_skip.h"
#include "tests/support/op_cases.h"

namespace xmkd::testing {
namespace {

class CudaOpCases : public ::testing::TestWithParam<size_t> {};

TEST_P(CudaOpCases, MatchesCpu) {
  XMKD_SKIP_WITHOUT_CUDA();
  const OpCase& c = op_cases()[GetParam()];
  Generator gen(1000 + GetParam());
  expect_cuda_matches_cpu(c.name + " (" + c.cuda_reason + ")", c.f, c.inputs(gen), c.cuda_forward, c.cuda_backward);
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) { return op_case_test_name(info.param); }

INSTANTIATE_TEST_SUITE_P(Table, CudaOpCases, ::testing::Range<size_t>(0, op_cases().size()), case_name);

}  // namespace
}  // namespace xmkd::testing
