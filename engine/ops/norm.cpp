// batch_norm (engine/ops.h); kernels and the backward derivation in kernels/cpu/batchnorm.cpp.
#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/distributed.h"
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

// The arguments every batch norm takes, checked; x's (N, C, inner) layout.
Dim1Layout check_batch_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                                 const Tensor& running_var, bool training) {
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
  return layout;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum, float eps) {
  const Dim1Layout layout = check_batch_norm_args(x, weight, bias, running_mean, running_var, training);
  const int64_t N = layout.outer, C = layout.C, inner = layout.inner;

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

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, Communicator& comm, float momentum, float eps) {
  const Dim1Layout layout = check_batch_norm_args(x, weight, bias, running_mean, running_var, true);
  const int64_t N = layout.outer, C = layout.C, inner = layout.inner;
  const Device device = x.device();
  // Forward, in two passes over x (norm.def): this rank's sums shifted by the running mean,
  // summed over the ranks, give the mean; the sums shifted by the mean, summed, the variance;
  // then the fused normalisation with the ranks' statistics.
  const Tensor running_shift = running_mean.defined() ? running_mean : Tensor::zeros({C}, DType::Float32, device);
  Tensor first = Tensor::empty({2 * C + 1}, DType::Float32, device);
  XMKD_DISPATCH(device, batchnorm_stats, N, C, inner, x.data<float>(), running_shift.data<float>(), first.data<float>());
  comm.all_reduce_sum(first);
  Tensor shift = Tensor::empty({C}, DType::Float32, device);
  XMKD_DISPATCH(device, batchnorm_shifted_mean, C, running_shift.data<float>(), first.data<float>(), shift.data<float>());
  Tensor sums = Tensor::empty({2 * C + 1}, DType::Float32, device);
  XMKD_DISPATCH(device, batchnorm_stats, N, C, inner, x.data<float>(), shift.data<float>(), sums.data<float>());
  comm.all_reduce_sum(sums);
  Tensor y = Tensor::empty_like(x);
  Tensor save_mean = Tensor::empty({C}, DType::Float32, device);
  Tensor save_invstd = Tensor::empty({C}, DType::Float32, device);
  XMKD_DISPATCH(device, batchnorm_forward_from_sums, N, C, inner, x.data<float>(), weight.data<float>(),
                bias.data<float>(), shift.data<float>(), sums.data<float>(), data_or_null(running_mean),
                data_or_null(running_var), momentum, eps, y.data<float>(), save_mean.data<float>(),
                save_invstd.data<float>());

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.requires_grad();
  Tensor saved_x = x.detach(), saved_w = weight.detach();
  Communicator* ranks = &comm;
  record("sync_batch_norm", y, {x, weight, bias}, [=](const Tensor& g) {
    // This rank's Σ dy and Σ dy·x̂ are its dbias and dweight (the parameters' gradients, which
    // the data-parallel gradient all-reduce averages like any other); their sums over the ranks
    // give every rank's dx. The sums are a collective, so every rank computes them, whether
    // or not its x needs a gradient.
    int64_t workspace_floats = 0;
    XMKD_DISPATCH(g.device(), batchnorm_workspace, C, &workspace_floats);
    Tensor scratch = workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::Float32, g.device()) : Tensor();
    // [Σ dy | Σ dy·x̂] = [dbias | dweight], written in place; the parameters' gradients are this
    // rank's copies, taken before the sum over the ranks.
    Tensor reduced = Tensor::empty({2 * C}, DType::Float32, g.device());
    float* sum_dy = reduced.data<float>();
    XMKD_DISPATCH(g.device(), batchnorm_backward, N, C, inner, true, saved_x.data<float>(), g.data<float>(),
                  saved_w.data<float>(), save_mean.data<float>(), save_invstd.data<float>(), eps, nullptr,
                  sum_dy + C, sum_dy, data_or_null(scratch));
    Tensor gw, gb;
    if (need_w) {
      gw = Tensor::empty({C}, DType::Float32, g.device());
      copy_bytes(gw.raw_data(), g.device(), sum_dy + C, g.device(), gw.nbytes());
    }
    if (need_b) {
      gb = Tensor::empty({C}, DType::Float32, g.device());
      copy_bytes(gb.raw_data(), g.device(), sum_dy, g.device(), gb.nbytes());
    }
    ranks->all_reduce_sum(reduced);
    Tensor gx;
    if (need_x) {
      gx = Tensor::empty_like(g);
      XMKD_DISPATCH(g.device(), batchnorm_backward_from_sums, N, C, inner, saved_x.data<float>(), g.data<float>(),
                    saved_w.data<float>(), save_mean.data<float>(), save_invstd.data<float>(), reduced.data<float>(),
                    sums.data<float>() + 2 * C, gx.data<float>());
    }
    return GradList{gx, gw, gb};
  });
  return y;
}

}  // namespace xmkd
