// Pooling and resizing ops (engine/ops.h): max_pool2d, adaptive_avg_pool2d, global_avg_pool,
// upsample_bilinear. All take x: (N,C,H,W) float32 and treat its N·C channels as independent planes.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

void check_image_batch(const char* op, const Tensor& x) {
  check_dtype(op, "x", x, DType::Float32);
  check_ndim(op, "x", x, 4);
}

void check_output_size(const char* op, const Tensor& x, int64_t out_h, int64_t out_w) {
  XMKD_CHECK(out_h > 0 && out_w > 0, op, ": output size ", out_h, "x", out_w, " is not positive for x ",
             shape_str(x.shape()));
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  check_image_batch(op, x);
  XMKD_CHECK(kernel >= 1 && stride >= 1 && padding >= 0, op, ": needs kernel >= 1, stride >= 1, padding >= 0, got ",
             "kernel ", kernel, ", stride ", stride, ", padding ", padding);
  // Beyond kernel/2 a window could lie entirely in the padding and have no pixel to pick.
  XMKD_CHECK(2 * padding <= kernel, op, ": padding ", padding, " must be at most half the kernel ", kernel);
  Pool2dGeometry g;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3);
  g.kernel = kernel, g.stride = stride, g.pad = padding;
  const int64_t span_h = g.H + 2 * g.pad - g.kernel, span_w = g.W + 2 * g.pad - g.kernel;
  g.P = span_h < 0 ? 0 : span_h / g.stride + 1;
  g.Q = span_w < 0 ? 0 : span_w / g.stride + 1;
  XMKD_CHECK(g.P > 0 && g.Q > 0, op, ": output size ", g.P, "x", g.Q, " is not positive for x ",
             shape_str(x.shape()), ", kernel ", kernel, ", stride ", stride, ", padding ", padding);
  const Device device = x.device();

  Tensor y = Tensor::empty({g.N, g.C, g.P, g.Q}, DType::Float32, device);
  Tensor argmax = Tensor::empty({g.N, g.C, g.P, g.Q}, DType::Int32, device);
  XMKD_DISPATCH(device, max_pool2d_forward, g, x.data<float>(), y.data<float>(), argmax.data<int32_t>());
  if (!needs_grad({x})) return y;
  record(op, y, {x}, [g, argmax, device](const Tensor& dy) {
    Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W}, DType::Float32, device);
    XMKD_DISPATCH(device, max_pool2d_backward, g, dy.data<float>(), argmax.data<int32_t>(), dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w) {
  const char* op = "adaptive_avg_pool2d";
  check_image_batch(op, x);
  check_output_size(op, x, out_h, out_w);
  const Shape x_shape = x.shape();
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  XMKD_CHECK(H > 0 && W > 0, op, ": x ", shape_str(x_shape), " has an empty plane");
  const Device device = x.device();

  Tensor y = Tensor::empty({x.dim(0), x.dim(1), out_h, out_w}, DType::Float32, device);
  XMKD_DISPATCH(device, adaptive_avg_pool2d_forward, planes, H, W, out_h, out_w, x.data<float>(), y.data<float>());
  if (!needs_grad({x})) return y;
  record(op, y, {x}, [=](const Tensor& dy) {
    Tensor dx = Tensor::empty(x_shape, DType::Float32, device);
    XMKD_DISPATCH(device, adaptive_avg_pool2d_backward, planes, H, W, out_h, out_w, dy.data<float>(),
                  dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor global_avg_pool(const Tensor& x) {
  const char* op = "global_avg_pool";
  check_image_batch(op, x);
  const Shape x_shape = x.shape();
  const int64_t planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3);
  XMKD_CHECK(hw > 0, op, ": x ", shape_str(x_shape), " has an empty plane");
  const Device device = x.device();

  Tensor y = Tensor::empty({x.dim(0), x.dim(1)}, DType::Float32, device);
  XMKD_DISPATCH(device, global_avg_pool_forward, planes, hw, x.data<float>(), y.data<float>());
  if (!needs_grad({x})) return y;
  record(op, y, {x}, [=](const Tensor& dy) {
    Tensor dx = Tensor::empty(x_shape, DType::Float32, device);
    XMKD_DISPATCH(device, global_avg_pool_backward, planes, hw, dy.data<float>(), dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor upsample_bilinear(const Tensor& x, int out_h, int out_w) {
  const char* op = "upsample_bilinear";
  check_image_batch(op, x);
  check_output_size(op, x, out_h, out_w);
  const Shape x_shape = x.shape();
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  XMKD_CHECK(H > 0 && W > 0, op, ": x ", shape_str(x_shape), " has an empty plane");
  const Device device = x.device();

  Tensor y = Tensor::empty({x.dim(0), x.dim(1), out_h, out_w}, DType::Float32, device);
  XMKD_DISPATCH(device, upsample_bilinear_forward, planes, H, W, out_h, out_w, x.data<float>(), y.data<float>());
  if (!needs_grad({x})) return y;
  record(op, y, {x}, [=](const Tensor& dy) {
    Tensor dx = Tensor::empty(x_shape, DType::Float32, device);
    XMKD_DISPATCH(device, upsample_bilinear_backward, planes, H, W, out_h, out_w, dy.data<float>(), dx.data<float>());
    return GradList{dx};
  });
  return y;
}

}  // namespace xmkd
