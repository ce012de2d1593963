#include "tests/support/deterministic.h"

#include <cmath>

namespace xmkd::testing {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

uint32_t fnv1a32(const std::string& text) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char c : text) h = (h ^ c) * 0x01000193u;
  return h;
}

std::vector<float> deterministic_values(uint64_t key, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u = static_cast<double>(splitmix64((key << 32) + static_cast<uint64_t>(i)) >> 40) / 16777216.0;
    out[static_cast<size_t>(i)] = static_cast<float>(2.0 * u - 1.0);
  }
  return out;
}

void deterministic_fill(Tensor& t, uint64_t key) {
  check_dtype("deterministic_fill", "tensor", t, DType::Float32);
  XMKD_CHECK(t.device() == Device::CPU, "deterministic_fill: tensor must be on the CPU, got ", t.str());
  std::vector<float> v = deterministic_values(key, t.numel());
  std::copy(v.begin(), v.end(), t.data<float>());
}

Tensor deterministic_state_value(const std::string& name, const Shape& shape, DType dtype) {
  if (ends_with(name, "num_batches_tracked")) return Tensor::zeros(shape, dtype);
  XMKD_CHECK(dtype == DType::Float32, "deterministic_state_value: '", name, "' is ", dtype_name(dtype),
             ", expected float32");
  const int64_t n = shape_numel(shape);
  std::vector<float> u = deterministic_values(fnv1a32(name), n);
  std::vector<float> v(u.size());
  for (size_t i = 0; i < u.size(); ++i) {
    const double ui = u[i];
    double value;
    if (ends_with(name, "running_mean")) {
      value = 0.1 * ui;
    } else if (ends_with(name, "running_var")) {
      value = 1.0 + 0.25 * (ui + 1.0);
    } else if (shape.size() >= 2) {
      const double fan_in = static_cast<double>(n / shape[0]);
      value = ui * std::sqrt(6.0 / fan_in);
    } else if (ends_with(name, "bias")) {
      value = 0.1 * ui;
    } else if (ends_with(name, "weight")) {
      value = 1.0 + 0.1 * ui;
    } else {
      fail("deterministic_state_value: no rule for state dict entry '", name, "' ", shape_str(shape));
    }
    v[i] = static_cast<float>(value);
  }
  return Tensor::from_vector(v, shape);
}

void deterministic_init(Module& model) {
  for (auto& [name, t] : model.state_dict()) {
    Tensor target = t;
    target.copy_from(deterministic_state_value(name, t.shape(), t.dtype()));
  }
}

}  // namespace xmkd::testing
