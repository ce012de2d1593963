// Distances and similarities between tensors: mse_loss, and over dim 1 cosine_similarity and
// l2_normalize (declared in engine/ops.h; kernels in kernels/defs/similarity.def). For the latter
// a tensor (N, C, d2, ...) is handed to the kernels as (outer = N, C, inner = d2·...), so (N,D)
// vectors and (N,C,H,W) feature maps share one kernel.
#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {

// PyTorch 1.13 clamps each norm separately: cos = a·b / (max(|a|, eps) · max(|b|, eps)).
// Its gradient treats the clamped norms as the norms (the clamp is not differentiated); so does ours.
Tensor cosine_similarity(const Tensor& a, const Tensor& b, float eps) {
  const char* op = "cosine_similarity";
  check_dtype(op, "a", a, DType::Float32);
  check_dtype(op, "b", b, DType::Float32);
  check_same_shape(op, a, b);
  check_same_device(op, a, b);
  XMKD_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  const Dim1Layout d = dim1_layout(op, "a", a);
  const Device device = a.device();
  const Shape out_shape = without_dim1(a.shape());
  Tensor y = Tensor::empty(out_shape, DType::Float32, device);
  Tensor norm_a = Tensor::empty(out_shape, DType::Float32, device);
  Tensor norm_b = Tensor::empty(out_shape, DType::Float32, device);
  XMKD_DISPATCH(device, cosine_similarity_forward, a.data<float>(), b.data<float>(), d.outer, d.C, d.inner, eps,
                y.data<float>(), norm_a.data<float>(), norm_b.data<float>());

  Tensor saved_a = a.detach(), saved_b = b.detach(), saved_y = y.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record(op, y, {a, b}, [=](const Tensor& g) {
    Tensor da = need_a ? Tensor::empty_like(saved_a) : Tensor();
    Tensor db = need_b ? Tensor::empty_like(saved_b) : Tensor();
    XMKD_DISPATCH(g.device(), cosine_similarity_backward, saved_a.data<float>(), saved_b.data<float>(),
                  saved_y.data<float>(), norm_a.data<float>(), norm_b.data<float>(), g.data<float>(), d.outer, d.C,
                  d.inner, data_or_null(da), data_or_null(db));
    return GradList{da, db};
  });
  return y;
}

Tensor l2_normalize(const Tensor& x, float eps) {
  const char* op = "l2_normalize";
  check_dtype(op, "x", x, DType::Float32);
  XMKD_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  const Dim1Layout d = dim1_layout(op, "x", x);
  Tensor y = Tensor::empty_like(x);
  Tensor norm = Tensor::empty(without_dim1(x.shape()), DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), l2_normalize_forward, x.data<float>(), d.outer, d.C, d.inner, eps, y.data<float>(),
                norm.data<float>());

  Tensor saved_y = y.detach();
  record(op, y, {x}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), l2_normalize_backward, saved_y.data<float>(), norm.data<float>(), g.data<float>(),
                  d.outer, d.C, d.inner, eps, dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  const char* op = "mse_loss";
  check_dtype(op, "a", a, DType::Float32);
  check_dtype(op, "b", b, DType::Float32);
  check_same_shape(op, a, b);
  check_same_device(op, a, b);
  Tensor loss = Tensor::empty({}, DType::Float32, a.device());
  XMKD_DISPATCH(a.device(), mse_forward, a.data<float>(), b.data<float>(), a.numel(), loss.data<float>());

  Tensor saved_a = a.detach(), saved_b = b.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record(op, loss, {a, b}, [=](const Tensor& g) {
    Tensor da = need_a ? Tensor::empty_like(saved_a) : Tensor();
    Tensor db = need_b ? Tensor::empty_like(saved_b) : Tensor();
    XMKD_DISPATCH(g.device(), mse_backward, saved_a.data<float>(), saved_b.data<float>(), saved_a.numel(),
                  g.data<float>(), data_or_null(da), data_or_null(db));
    return GradList{da, db};
  });
  return loss;
}

}  // namespace xmkd
