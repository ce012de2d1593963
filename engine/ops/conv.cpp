// conv2d (engine/ops.h): argument checks, the forward kernel, and a backward that computes only
// the gradients whose inputs need them (the first layer's image needs no dx).
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

constexpr const char* kOp = "conv2d";

Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Conv2dOptions& o) {
  XMKD_CHECK(o.stride >= 1 && o.padding >= 0 && o.dilation >= 1, kOp, ": needs stride >= 1, padding >= 0, ",
             "dilation >= 1, got stride ", o.stride, ", padding ", o.padding, ", dilation ", o.dilation);
  Conv2dGeometry g;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3);
  g.K = weight.dim(0), g.R = weight.dim(2), g.S = weight.dim(3);
  g.stride = o.stride, g.pad = o.padding, g.dilation = o.dilation;
  XMKD_CHECK(g.C == weight.dim(1), kOp, ": x ", shape_str(x.shape()), " has ", g.C, " channels but weight ",
             shape_str(weight.shape()), " expects ", weight.dim(1));
  XMKD_CHECK(g.C > 0 && g.K > 0 && g.R > 0 && g.S > 0, kOp, ": empty channel or kernel dimension in x ",
             shape_str(x.shape()), " / weight ", shape_str(weight.shape()));
  // Floor division of a possibly negative span must not round towards zero: test the span first.
  const int64_t span_h = g.H + 2 * g.pad - g.dilation * (g.R - 1) - 1;
  const int64_t span_w = g.W + 2 * g.pad - g.dilation * (g.S - 1) - 1;
  g.P = span_h < 0 ? 0 : span_h / g.stride + 1;
  g.Q = span_w < 0 ? 0 : span_w / g.stride + 1;
  XMKD_CHECK(g.P > 0 && g.Q > 0, kOp, ": output size ", g.P, "x", g.Q, " is not positive for x ",
             shape_str(x.shape()), ", weight ", shape_str(weight.shape()), ", stride ", o.stride, ", padding ",
             o.padding, ", dilation ", o.dilation, " (the dilated kernel is larger than the padded input)");
  return g;
}

// Scratch space for one pass, as the backend asks for it (kernels/defs/conv.def); empty when unused.
Tensor conv2d_workspace(const Conv2dGeometry& g, Device device, ConvPass pass) {
  int64_t floats = 0;
  XMKD_DISPATCH(device, conv2d_workspace, g, pass, &floats);
  return Tensor::empty({floats}, DType::Float32, device);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  check_dtype(kOp, "x", x, DType::Float32);
  check_dtype(kOp, "weight", weight, DType::Float32);
  check_ndim(kOp, "x", x, 4);
  check_ndim(kOp, "weight", weight, 4);
  check_same_device(kOp, x, weight);
  if (bias.defined()) {
    check_dtype(kOp, "bias", bias, DType::Float32);
    check_same_device(kOp, x, bias);
    XMKD_CHECK(bias.ndim() == 1 && bias.dim(0) == weight.dim(0), kOp, ": bias ", shape_str(bias.shape()),
               " must have shape (", weight.dim(0), ",) for weight ", shape_str(weight.shape()));
  }
  const Conv2dGeometry g = conv2d_geometry(x, weight, options);
  const Device device = x.device();

  Tensor y = Tensor::empty({g.N, g.K, g.P, g.Q}, DType::Float32, device);
  Tensor workspace = conv2d_workspace(g, device, ConvPass::Forward);
  XMKD_DISPATCH(device, conv2d_forward, g, x.data<float>(), weight.data<float>(),
                bias.defined() ? bias.data<float>() : nullptr, y.data<float>(), workspace.data<float>());

  if (!needs_grad({x, weight, bias})) return y;
  const bool need_x = x.requires_grad();
  const bool need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  // dx needs only w; dw needs only x: keep no more than that alive.
  Tensor saved_x = need_w ? x.detach() : Tensor();
  Tensor saved_w = need_x ? weight.detach() : Tensor();
  const Shape w_shape = weight.shape();
  record(kOp, y, {x, weight, bias}, [=](const Tensor& dy) {
    Tensor dx, dw, db;
    if (need_x) {
      dx = Tensor::empty({g.N, g.C, g.H, g.W}, DType::Float32, device);
      Tensor ws = conv2d_workspace(g, device, ConvPass::BackwardData);
      XMKD_DISPATCH(device, conv2d_backward_data, g, dy.data<float>(), saved_w.data<float>(), dx.data<float>(),
                    ws.data<float>());
    }
    if (need_w || need_b) {
      if (need_w) dw = Tensor::empty(w_shape, DType::Float32, device);
      if (need_b) db = Tensor::empty({g.K}, DType::Float32, device);
      Tensor ws = need_w ? conv2d_workspace(g, device, ConvPass::BackwardWeight) : Tensor();
      XMKD_DISPATCH(device, conv2d_backward_weight, g, need_w ? saved_x.data<float>() : nullptr, dy.data<float>(),
                    need_w ? dw.data<float>() : nullptr, need_b ? db.data<float>() : nullptr,
                    need_w ? ws.data<float>() : nullptr);
    }
    return GradList{dx, dw, db};
  });
  return y;
}

}  // namespace xmkd
