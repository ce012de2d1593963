// add, sub, mul, scale, relu, add_relu (engine/ops.h); kernels in kernels/cpu/elementwise.cpp.
#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_dtype(op, "a", a, DType::Float32);
  check_dtype(op, "b", b, DType::Float32);
  check_same_device(op, a, b);
}

// How b combines with a in add / mul.
enum class Operand { SameShape, ChannelBias, Scalar };

Operand classify_operand(const char* op, const Tensor& a, const Tensor& b, bool allow_bias) {
  if (a.shape() == b.shape()) return Operand::SameShape;
  if (allow_bias && b.ndim() == 1 && a.ndim() >= 2 && b.dim(0) == a.dim(1)) return Operand::ChannelBias;
  if (b.numel() == 1) return Operand::Scalar;
  fail(op, ": b must have a's shape ", shape_str(a.shape()),
       allow_bias && a.ndim() >= 2 ? str_cat(", be (C) = (", a.dim(1), ",) for a bias over dim 1,") : std::string(),
       " or have one element; got a ", shape_str(a.shape()), " and b ", shape_str(b.shape()));
}

// g summed to b's shape: itself, per channel, or to one element.
Tensor reduce_to_operand(const Tensor& g, Operand kind, const Shape& b_shape) {
  if (kind == Operand::SameShape) return g;
  Tensor gb = Tensor::empty(b_shape, DType::Float32, g.device());
  if (kind == Operand::ChannelBias) {
    const Dim1Layout d = dim1_layout("reduce_to_operand", "g", g);
    XMKD_DISPATCH(g.device(), channel_sum, d.outer, d.C, d.inner, g.data<float>(), gb.data<float>());
  } else {
    XMKD_DISPATCH(g.device(), sum_all, g.numel(), g.data<float>(), 1.0f, gb.data<float>());
  }
  return gb;
}

Tensor scaled(const Tensor& g, float s) {
  Tensor out = Tensor::empty_like(g);
  XMKD_DISPATCH(g.device(), scale_forward, g.numel(), s, g.data<float>(), out.data<float>());
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_float_pair("add", a, b);
  const Operand kind = classify_operand("add", a, b, /*allow_bias=*/true);
  Tensor y = Tensor::empty_like(a);
  if (kind == Operand::SameShape) {
    XMKD_DISPATCH(a.device(), add_forward, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  } else if (kind == Operand::ChannelBias) {
    const Dim1Layout d = dim1_layout("add", "a", a);
    XMKD_DISPATCH(a.device(), bias_add, d.outer, d.C, d.inner, a.data<float>(), b.data<float>(), y.data<float>());
  } else {
    XMKD_DISPATCH(a.device(), add_scalar_tensor, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  }
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record("add", y, {a, b}, [kind, b_shape = b.shape(), need_a, need_b](const Tensor& g) {
    return GradList{need_a ? g : Tensor(), need_b ? reduce_to_operand(g, kind, b_shape) : Tensor()};
  });
  return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_float_pair("sub", a, b);
  check_same_shape("sub", a, b);
  Tensor y = Tensor::empty_like(a);
  XMKD_DISPATCH(a.device(), sub_forward, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record("sub", y, {a, b}, [need_a, need_b](const Tensor& g) {
    return GradList{need_a ? g : Tensor(), need_b ? scaled(g, -1.0f) : Tensor()};
  });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_float_pair("mul", a, b);
  const Operand kind = classify_operand("mul", a, b, /*allow_bias=*/false);
  const bool scalar_b = kind == Operand::Scalar;
  Tensor y = Tensor::empty_like(a);
  if (scalar_b)
    XMKD_DISPATCH(a.device(), mul_scalar_tensor, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  else
    XMKD_DISPATCH(a.device(), mul_forward, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  // da = g·b needs b; db = g·a (or Σ g·a for a scalar b) needs a.
  Tensor saved_a = need_b ? a.detach() : Tensor();
  Tensor saved_b = need_a ? b.detach() : Tensor();
  record("mul", y, {a, b}, [scalar_b, b_shape = b.shape(), saved_a, saved_b, need_a, need_b](const Tensor& g) {
    Tensor ga, gb;
    const Device dev = g.device();
    if (need_a) {
      ga = Tensor::empty_like(g);
      if (scalar_b)
        XMKD_DISPATCH(dev, mul_scalar_tensor, g.numel(), g.data<float>(), saved_b.data<float>(), ga.data<float>());
      else
        XMKD_DISPATCH(dev, mul_forward, g.numel(), g.data<float>(), saved_b.data<float>(), ga.data<float>());
    }
    if (need_b) {
      if (scalar_b) {
        gb = Tensor::empty(b_shape, DType::Float32, dev);
        XMKD_DISPATCH(dev, dot, g.numel(), g.data<float>(), saved_a.data<float>(), gb.data<float>());
      } else {
        gb = Tensor::empty_like(g);
        XMKD_DISPATCH(dev, mul_forward, g.numel(), g.data<float>(), saved_a.data<float>(), gb.data<float>());
      }
    }
    return GradList{ga, gb};
  });
  return y;
}

Tensor scale(const Tensor& x, float s) {
  check_dtype("scale", "x", x, DType::Float32);
  Tensor y = scaled(x, s);
  record("scale", y, {x}, [s](const Tensor& g) { return GradList{scaled(g, s)}; });
  return y;
}

Tensor relu(const Tensor& x) {
  check_dtype("relu", "x", x, DType::Float32);
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), relu_forward, x.numel(), x.data<float>(), y.data<float>());
  // The output mask y > 0 equals x > 0, and keeps no extra tensor alive when y is used anyway.
  Tensor saved_y = needs_grad({x}) ? y.detach() : Tensor();
  record("relu", y, {x}, [saved_y](const Tensor& g) {
    Tensor gx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), relu_backward, g.numel(), saved_y.data<float>(), g.data<float>(), gx.data<float>());
    return GradList{gx};
  });
  return y;
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_float_pair("add_relu", a, b);
  check_same_shape("add_relu", a, b);
  Tensor y = Tensor::empty_like(a);
  XMKD_DISPATCH(a.device(), add_relu_forward, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor saved_y = needs_grad({a, b}) ? y.detach() : Tensor();
  record("add_relu", y, {a, b}, [saved_y, need_a, need_b](const Tensor& g) {
    Tensor gs = Tensor::empty_like(g);   // d(a+b), shared by both inputs
    XMKD_DISPATCH(g.device(), relu_backward, g.numel(), saved_y.data<float>(), g.data<float>(), gs.data<float>());
    return GradList{need_a ? gs : Tensor(), need_b ? gs : Tensor()};
  });
  return y;
}

}  // namespace xmkd
