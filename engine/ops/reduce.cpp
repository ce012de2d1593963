// sum and mean over all elements (engine/ops.h); kernels in kernels/cpu/reduce.cpp (double accumulation).
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

// alpha · Σ x as a shape-() tensor; backward: dx = alpha · g everywhere.
Tensor scaled_total(const char* op, const Tensor& x, float alpha) {
  check_dtype(op, "x", x, DType::Float32);
  Tensor y = Tensor::empty({}, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), sum_all, x.numel(), x.data<float>(), alpha, y.data<float>());
  record(op, y, {x}, [alpha, x_shape = x.shape()](const Tensor& g) {
    Tensor gx = Tensor::empty(x_shape, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), broadcast_scalar, gx.numel(), g.data<float>(), alpha, gx.data<float>());
    return GradList{gx};
  });
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return scaled_total("sum", x, 1.0f); }

// The mean of no elements is NaN (0 · 1/0), as in PyTorch.
Tensor mean(const Tensor& x) {
  check_defined("mean", "x", x);
  return scaled_total("mean", x, 1.0f / static_cast<float>(x.numel()));
}

}  // namespace xmkd
