#include "tests/models/parity_fixture.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tests/support/deterministic.h"
#include "tests/support/gradcheck.h"

namespace xmkd::testing {
namespace {

constexpr int64_t kSamples = 4096;
constexpr uint32_t kProjectionSalt = 0x5BD1E995u;

// ‖actual − ref‖ / ‖ref‖ over the entries where ref is finite (‖actual − ref‖ when ‖ref‖ = 0).
double relative_error(const std::vector<double>& actual, const std::vector<double>& ref) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(ref[i])) continue;
    diff += (actual[i] - ref[i]) * (actual[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

double l2_norm(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// Mean cross-entropy of logits z (N, C) and its gradient; rows labelled ignore_index skipped.
double cross_entropy(const std::vector<double>& z, const std::vector<int64_t>& labels, int64_t classes,
                     int64_t ignore_index, std::vector<double>& grad) {
  grad.assign(z.size(), 0.0);
  double loss = 0.0;
  int64_t valid = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == ignore_index) continue;
    const double* row = &z[i * classes];
    const double top = *std::max_element(row, row + classes);
    double total = 0.0;
    for (int64_t c = 0; c < classes; ++c) total += std::exp(row[c] - top);
    loss += top + std::log(total) - row[labels[i]];
    for (int64_t c = 0; c < classes; ++c) grad[i * classes + c] = std::exp(row[c] - top) / total;
    grad[i * classes + labels[i]] -= 1.0;
    ++valid;
  }
  for (double& g : grad) g /= static_cast<double>(std::max<int64_t>(valid, 1));
  return loss / static_cast<double>(std::max<int64_t>(valid, 1));
}

std::vector<int64_t> to_int64(const Tensor& t) {
  if (t.dtype() == DType::Int64) return t.to_vector<int64_t>();
  std::vector<int64_t> out;
  for (int32_t v : t.to_vector<int32_t>()) out.push_back(v);
  return out;
}

}  // namespace

std::vector<double> to_double(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  return std::vector<double>(v.begin(), v.end());
}

ParityFixture::ParityFixture(const std::string& name) : name_(name), tensors_(load_fixture(name)) {}

ParityFixture::~ParityFixture() {
  if (checks_ == 0) return;
  std::printf("[parity] %s: %d checks, worst error/tolerance %.3f (%s)\n", name_.c_str(), checks_, worst_ratio_,
              worst_.c_str());
}

Tensor ParityFixture::tensor(const std::string& key) const {
  auto it = tensors_.find(key);
  if (it == tensors_.end()) {
    ADD_FAILURE() << name_ << ": no tensor '" << key << "'";
    return Tensor();
  }
  return it->second;
}

void ParityFixture::expect_within(const std::string& what, double error, double torch_error, double tolerance) {
  ++checks_;
  const double ratio = error / tolerance;
  if (!(ratio <= worst_ratio_)) {   // also records a NaN error as the worst
    worst_ratio_ = ratio;
    worst_ = what;
  }
  EXPECT_LE(error, tolerance) << name_ << ": " << what << ": xmkd's relative error " << error
                              << ", PyTorch float32's " << torch_error << ", tolerance " << tolerance;
}

void ParityFixture::expect_matches(const std::string& key, const Tensor& actual) {
  if (!actual.defined()) {
    ADD_FAILURE() << name_ << ": " << key << " is undefined in xmkd (no gradient?)";
    return;
  }
  if (actual.dtype() == DType::Float32) return expect_matches(key, to_double(actual), actual.shape());
  checked_.push_back(key);
  const std::vector<int64_t> got = to_int64(actual);
  Tensor ref = tensor("ref." + key);
  if (!ref.defined()) return;
  ++checks_;
  EXPECT_EQ(actual.shape(), ref.shape()) << name_ << ": " << key;
  EXPECT_EQ(got, to_int64(ref)) << name_ << ": " << key << " (integer, compared exactly)";
}

void ParityFixture::expect_matches(const std::string& key, const std::vector<double>& actual, const Shape& shape) {
  checked_.push_back(key);
  Tensor stored_shape = tensor("shape." + key);
  if (!stored_shape.defined()) return;
  const Shape expected_shape = stored_shape.to_vector<int64_t>();
  ASSERT_EQ(shape, expected_shape) << name_ << ": " << key << " has shape " << shape_str(shape)
                                   << " in xmkd, " << shape_str(expected_shape) << " in the fixture";
  // An Adam displacement carries the float32 uncertainty its conditioning analysis predicts for
  // the compared entries (a bound, so it enters without the factor); other quantities have none.
  const auto uncertainty = tensors_.find("uncertainty." + key);
  const double predicted = uncertainty != tensors_.end() ? uncertainty->second.item() : 0.0;
  const auto whole = tensors_.find("ref." + key);
  if (whole != tensors_.end()) {
    const std::vector<double> ref = to_double(whole->second), torch = to_double(tensor("torch." + key));
    const double torch_error = relative_error(torch, ref);
    expect_within(key, relative_error(actual, ref), torch_error, std::max({kFactor * torch_error, predicted, kFloor}));
    return;
  }
  const int64_t n = static_cast<int64_t>(actual.size());
  std::vector<double> sample;
  for (int64_t k = 0; k < kSamples; ++k) sample.push_back(actual[static_cast<size_t>(k * n / kSamples)]);
  const std::vector<double> ref = to_double(tensor("ref." + key + ".sample"));
  const std::vector<double> torch = to_double(tensor("torch." + key + ".sample"));
  const double torch_sample = relative_error(torch, ref);
  expect_within(key + ".sample", relative_error(sample, ref), torch_sample,
                std::max({kFactor * torch_sample, predicted, kFloor}));

  // The norm and the projection cover all n entries; PyTorch's error on them is a single draw,
  // so its sample error (over 4096 entries) is used too, and the projection's error is scaled by
  // its typical size ‖ref‖ rms(r) rather than by its value, which may cancel.
  const double ref_norm = tensor("ref." + key + ".norm").item();
  const double torch_norm = std::abs(tensor("torch." + key + ".norm").item() - ref_norm) / ref_norm;
  expect_within(key + ".norm", std::abs(l2_norm(actual) - ref_norm) / ref_norm, torch_norm,
                std::max({kFactor * std::max(torch_norm, torch_sample), predicted, kFloor}));
  if (!tensors_.count("ref." + key + ".proj")) return;
  const std::vector<float> r = deterministic_values(fnv1a32(key) ^ kProjectionSalt, n);
  double projection = 0.0, r_norm = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    projection += actual[static_cast<size_t>(i)] * static_cast<double>(r[static_cast<size_t>(i)]);
    r_norm += static_cast<double>(r[static_cast<size_t>(i)]) * r[static_cast<size_t>(i)];
  }
  const double scale = ref_norm * std::sqrt(r_norm / static_cast<double>(n));
  const double ref_projection = tensor("ref." + key + ".proj").item();
  const double torch_projection = std::abs(tensor("torch." + key + ".proj").item() - ref_projection) / scale;
  expect_within(key + ".proj", std::abs(projection - ref_projection) / scale, torch_projection,
                std::max(kFactor * std::max(torch_projection, torch_sample), kFloor));
}

void ParityFixture::expect_adam_losses(const std::vector<double>& losses, const Tensor& labels, int64_t ignore_index) {
  checked_.push_back("adam.loss");
  const std::vector<double> ref = to_double(tensor("ref.adam.loss")), torch = to_double(tensor("torch.adam.loss"));
  Tensor ref_logits = tensor("ref.adam.logits"), torch_logits = tensor("torch.adam.logits");
  ASSERT_EQ(losses.size(), ref.size()) << name_ << ": number of Adam steps";
  ASSERT_EQ(ref_logits.ndim(), 3) << name_ << ": ref.adam.logits must be (steps, N, classes)";
  const int64_t per_step = ref_logits.dim(1) * ref_logits.dim(2);
  const std::vector<double> all_ref = to_double(ref_logits), all_torch = to_double(torch_logits);
  const std::vector<int64_t> y = to_int64(labels);
  for (size_t t = 0; t < ref.size(); ++t) {
    const std::vector<double> z(all_ref.begin() + t * per_step, all_ref.begin() + (t + 1) * per_step);
    const std::vector<double> zt(all_torch.begin() + t * per_step, all_torch.begin() + (t + 1) * per_step);
    std::vector<double> grad;
    const double loss = cross_entropy(z, y, ref_logits.dim(2), ignore_index, grad);
    const double kappa = l2_norm(grad) * l2_norm(z) / std::abs(loss);
    const double own = std::abs(torch[t] - ref[t]) / std::abs(ref[t]);
    const double torch_error = std::max(own, kappa * relative_error(zt, z));
    expect_within("adam.loss[" + std::to_string(t) + "]", std::abs(losses[t] - ref[t]) / std::abs(ref[t]), torch_error,
                  std::max(kFactor * torch_error, kFloor));
  }
}

std::vector<std::string> ParityFixture::unchecked(const std::string& prefix) const {
  std::vector<std::string> out;
  for (const auto& [key, t] : tensors_) {
    if (key.rfind("shape." + prefix, 0) != 0) continue;
    const std::string quantity = key.substr(6);
    if (std::find(checked_.begin(), checked_.end(), quantity) == checked_.end()) out.push_back(quantity);
  }
  return out;
}

}  // namespace xmkd::testing
