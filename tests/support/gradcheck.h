// Finite-difference gradient checking and tensor comparison, shared by every test.
//
// expect_gradients_match(f, inputs): with a random upstream gradient u (fixed seed, N(0,1)),
// L(inputs) = Σ f(inputs) · u accumulated in double. For every float32 input that requires grad,
// the analytic dL/dx from backward() is compared with the central difference
// (L(x + h e_i) - L(x - h e_i)) / 2h for EVERY element i. Inputs must live on the CPU.
// Tolerances: docs/testing.md says how the defaults were chosen and when a test may differ.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "engine/nn/module.h"

namespace xmkd::testing {

struct GradcheckOptions {
  double step = 1e-2;   // h: exact for ops linear in the input, O(h²) truncation otherwise
  double atol = 1e-3;
  double rtol = 1e-3;
  uint64_t seed = 1234; // of the upstream gradient
};

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

void expect_gradients_match(const OpFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options = {});

// Element-wise |actual - expected| <= atol + rtol·|expected|; reports the count of mismatches,
// the worst element (index, both values) and the max absolute error, labelled with `what`.
void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol, const std::string& what);

// The tensor itself, marked as a leaf that requires grad (a parameter or an input under test).
inline Tensor requiring_grad(Tensor t) { return t.set_requires_grad(true); }

// Random inputs with a known distance from kinks:
// values uniform in ±[margin, margin + spread], so relu-like kinks at 0 are never straddled by ±h.
Tensor random_away_from_zero(const Shape& shape, float margin, float spread, Generator& gen);
// A shuffled arithmetic progression with step `gap`: all values distinct by at least `gap`
// (max-pool windows never have near-ties).
Tensor random_distinct(const Shape& shape, float gap, Generator& gen);
Tensor random_normal(const Shape& shape, Generator& gen, float stddev = 1.0f);
// Integer labels in [0, classes) (int64), with `ignored` positions set to ignore_index.
Tensor random_labels(const Shape& shape, int64_t classes, Generator& gen, int64_t ignored = 0,
                     int64_t ignore_index = -100);

// A fixture written by tools/make_torch_fixtures.py, from tests/fixtures/<name>.safetensors.
TensorMap load_fixture(const std::string& name);
// fixture[key], or a test failure naming the fixture and key.
Tensor fixture_tensor(const TensorMap& fixture, const std::string& key);

}  // namespace xmkd::testing
