// dropout and gradient_reversal (engine/ops.h).
#include <cmath>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_dtype("dropout", "x", x, DType::Float32);
  XMKD_CHECK(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got ", p);
  if (!training || p == 0.0f) return x;
  // mask = 1/(1-p) where kept (probability 1-p), 0 where dropped; y = x·mask, dx = g·mask.
  // Drawn on the CPU so that a seed gives the same mask on every device.
  Tensor mask = Tensor::empty(x.shape());
  float* m = mask.data<float>();
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < p ? 0.0f : keep_scale;
  mask = mask.to(x.device());

  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), mul_forward, x.numel(), x.data<float>(), mask.data<float>(), y.data<float>());
  record("dropout", y, {x}, [mask](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), mul_forward, g.numel(), g.data<float>(), mask.data<float>(), gx.data<float>());
    return GradList{gx};
  });
  return y;
}

Tensor gradient_reversal(const Tensor& x, float lambda) {
  check_dtype("gradient_reversal", "x", x, DType::Float32);
  Tensor y = x.clone();
  record("gradient_reversal", y, {x}, [lambda](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), scale_forward, g.numel(), -lambda, g.data<float>(), gx.data<float>());
    return GradList{gx};
  });
  return y;
}

}  // namespace xmkd
