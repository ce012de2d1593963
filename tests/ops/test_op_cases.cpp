// The gradient check of every differentiable case of the op-case table (tests/support/op_cases.h),
// by central differences on the CPU with the case's tolerances.
#include <gtest/gtest.h>

#include "tests/support/op_cases.h"

namespace xmkd::testing {
namespace {

class OpCases : public ::testing::TestWithParam<size_t> {};

TEST_P(OpCases, GradientsMatchFiniteDifferences) {
  const OpCase& c = op_cases()[GetParam()];
  Generator gen(1000 + GetParam());
  std::vector<Tensor> inputs;
  for (OpInput& in : c.inputs(gen)) inputs.push_back(in.grad ? requiring_grad(in.value) : in.value);
  SCOPED_TRACE(c.name + ": " + c.gradcheck_reason);
  expect_gradients_match(c.f, inputs, *c.gradcheck);
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) { return op_case_test_name(info.param); }

// The cases with a gradient check (an optimizer update is not a differentiable op).
std::vector<size_t> differentiable_cases() {
  std::vector<size_t> indices;
  for (size_t i = 0; i < op_cases().size(); ++i)
    if (op_cases()[i].gradcheck) indices.push_back(i);
  return indices;
}

INSTANTIATE_TEST_SUITE_P(Table, OpCases, ::testing::ValuesIn(differentiable_cases()), case_name);

}  // namespace
}  // namespace xmkd::testing
