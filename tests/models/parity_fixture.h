// Compares xmkd's results with a model parity fixture (tools/torch_fixtures/models.py) by the rule
// of docs/parity.md: for each quantity Q, xmkd's relative error against the float64 reference
// must be at most max(10 × PyTorch float32's own relative error, 1e-5).
//
// A fixture stores, per quantity Q: shape.Q, and either ref.Q / torch.Q whole, or (more than 16384
// entries) Q.sample (4096 entries at flat indices floor(k n / 4096)), Q.norm and Q.proj
// (Σ Q_i r_i with r = deterministic_values(fnv1a32(Q) ^ 0x5bd1e995, n)). NaN entries of ref.Q are
// ill-conditioned and skipped.
#pragma once
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace xmkd::testing {

class ParityFixture {
 public:
  static constexpr double kFactor = 10.0;
  static constexpr double kFloor = 1e-5;

  explicit ParityFixture(const std::string& name);   // tests/fixtures/<name>.safetensors
  ~ParityFixture();                                   // prints a summary of the checks

  const TensorMap& tensors() const { return tensors_; }
  Tensor tensor(const std::string& key) const;        // a test failure when missing

  // Every check of quantity `key` (whole, or sample / norm / projection), each an EXPECT whose
  // message names the fixture, the quantity, both errors and the tolerance.
  void expect_matches(const std::string& key, const Tensor& actual);
  void expect_matches(const std::string& key, const std::vector<double>& actual, const Shape& shape);

  // adam.loss: the loss before each step. A loss is the cross-entropy of logits, so an error ε
  // in the logits may move it by κ ε, κ = |∂L/∂z| |z| / |L| (computed from ref.adam.logits);
  // PyTorch's error for step t is max(its own loss error, κ_t × its adam.logits[t] error).
  void expect_adam_losses(const std::vector<double>& losses, const Tensor& labels, int64_t ignore_index);

  // The quantities under `prefix` ("grad.", "state.", ...) in the fixture not yet checked.
  std::vector<std::string> unchecked(const std::string& prefix) const;

  // The worst error / tolerance over the checks so far (for reports).
  double worst_ratio() const { return worst_ratio_; }

 private:
  void expect_within(const std::string& what, double error, double torch_error, double tolerance);

  std::string name_;
  TensorMap tensors_;
  std::vector<std::string> checked_;
  int checks_ = 0;
  double worst_ratio_ = 0.0;
  std::string worst_;
};

// Host copy of a float32 tensor in double.
std::vector<double> to_double(const Tensor& t);

}  // namespace xmkd::testing
