// batch_norm (engine/ops.h); kernels and the backward derivation in kernels/cpu/batchnorm.cpp.
#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

void check_channel_vector(const char* arg, const Tensor& t, const Tensor& x, int64_t C) {
  check_dtype("batch_norm", arg, t, DType::Float32);
  check_same_device("batch_norm", x, t);
  XMKD_CHECK(t.shape() == Shape{C}, "batch_norm: '", arg, "' must be (", C, ",) for input ", shape_str(x.shape()),
             ", got ", shape_str(t.shape()));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum, float eps) {
  check_dtype("batch_norm", "x", x, DType::Float32);
  XMKD_CHECK(x.ndim() == 2 || x.ndim() == 4, "batch_norm: x must be (N,C) or (N,C,H,W), got ",
             shape_str(x.shape()));
  const Dim1Layout layout = dim1_layout("batch_norm", "x", x);
  const int64_t N = layout.outer, C = layout.C, inner = layout.inner;
  check_channel_vector("weight", weight, x, C);
  check_channel_vector("bias", bias, x, C);
  XMKD_CHECK(training || (running_mean.defined() && running_var.defined()),
             "batch_norm: running_mean and running_var are needed when not training");
  if (running_mean.defined()) check_channel_vector("running_mean", running_mean, x, C);
  if (running_var.defined()) check_channel_vector("running_var", running_var, x, C);
  XMKD_CHECK(!training || N * inner > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
             shape_str(x.shape()));

  Tensor y = Tensor::empty_like(x);
  // Scratch for results a backend computes whether or not they are wanted (kernels/defs/norm.def).
  int64_t workspace_floats = 0;
  XMKD_DISPATCH(x.device(), batchnorm_workspace, C, &workspace_floats);
  Tensor workspace = training && workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::Float32, x.device())
                                                      : Tensor();
  Tensor save_mean = Tensor::empty({C}, DType::Float32, x.device());
  Tensor save_invstd = Tensor::empty({C}, DType::Float32, x.device());
  if (training) {
    XMKD_DISPATCH(x.device(), batchnorm_forward_training, N, C, inner, x.data<float>(), weight.data<float>(),
                  bias.data<float>(), data_or_null(running_mean), data_or_null(running_var), momentum, eps,
                  y.data<float>(), save_mean.data<float>(), save_invstd.data<float>(), data_or_null(workspace));
  } else {
    XMKD_DISPATCH(x.device(), batchnorm_forward_inference, N, C, inner, x.data<float>(), weight.data<float>(),
                  bias.data<float>(), running_mean.data<float>(), running_var.data<float>(), eps, y.data<float>(),
                  save_mean.data<float>(), save_invstd.data<float>());
  }

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.requires_grad();
  // x is read by backward for dweight, and for dx in training (through Σ g·x̂).
  Tensor saved_x = need_w || (training && need_x) ? x.detach() : Tensor();
  Tensor saved_w = need_x ? weight.detach() : Tensor();
  record("batch_norm", y, {x, weight, bias}, [=](const Tensor& g) {
    Tensor scratch = workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::Float32, g.device()) : Tensor();
    Tensor gx = need_x ? Tensor::empty_like(g) : Tensor();
    Tensor gw = need_w ? Tensor::empty({C}, DType::Float32, g.device()) : Tensor();
    Tensor gb = need_b ? Tensor::empty({C}, DType::Float32, g.device()) : Tensor();
    XMKD_DISPATCH(g.device(), batchnorm_backward, N, C, inner, training, data_or_null(saved_x), g.data<float>(),
                  data_or_null(saved_w), save_mean.data<float>(), save_invstd.data<float>(), eps, data_or_null(gx),
                  data_or_null(gw), data_or_null(gb), data_or_null(scratch));
    return GradList{gx, gw, gb};
  });
  return y;
}

}  // namespace xmkd
