// One table of op cases, as ggml's test-backend-ops has: each case is an op on inputs of a stated
// shape, the kernels of kernels/defs/ it runs, and the tolerances of its two checks with their
// reasons. tests/ops/test_op_cases.cpp checks the gradients of every differentiable case by
// finite differences on the CPU, tests/ops/test_cuda_op_cases.cpp compares every case on CUDA
// with the CPU (forward and gradients), and tests/ops/test_op_coverage.cpp fails when a kernel
// declared in kernels/defs/*.def runs in no case. The focused tests of each op (tests/ops/test_*.cpp)
// keep their own edge cases; this table is the one place every kernel is reached from.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/random.h"
#include "tests/support/cuda_compare.h"
#include "tests/support/gradcheck.h"

namespace xmkd::testing {

struct OpCase {
  std::string name;                                          // "op/variant", a valid test name part
  std::vector<std::string> kernels;                          // the kernels it runs (kernels/defs)
  std::function<std::vector<OpInput>(Generator&)> inputs;    // on the CPU; grad marks what is differentiated
  OpFn f;
  std::optional<GradcheckOptions> gradcheck;                 // nullopt: not differentiable (or not by FD)
  std::string gradcheck_reason;                              // why these tolerances, or why none
  Tolerance cuda_forward, cuda_backward;
  std::string cuda_reason;
};

const std::vector<OpCase>& op_cases();
// The case's name as a test name: every character but letters and digits becomes '_'.
std::string op_case_test_name(size_t index);

}  // namespace xmkd::testing
