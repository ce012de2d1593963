// reshape, flatten, concat_channels, slice_channels, split_channels (engine/ops.h).
// Reshapes are views (Tensor::view); the channel ops copy blocks with kernels/cpu/shape.cpp.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

// Product of the dims after the channel dim (1 for rank 2).
int64_t inner_size(const Shape& s) {
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  return inner;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", "x", x);
  Shape resolved = shape;
  int inferred = -1;
  int64_t known = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      XMKD_CHECK(inferred < 0, "reshape: only one dimension may be -1, got ", shape_str(shape));
      inferred = static_cast<int>(d);
    } else {
      XMKD_CHECK(shape[d] >= 0, "reshape: invalid dimension ", shape[d], " in ", shape_str(shape));
      known *= shape[d];
    }
  }
  if (inferred >= 0) {
    XMKD_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.str(), " into ", shape_str(shape));
    resolved[inferred] = x.numel() / known;
  }
  XMKD_CHECK(shape_numel(resolved) == x.numel(), "reshape: cannot reshape ", x.str(), " into ", shape_str(shape),
             " (", x.numel(), " vs ", shape_numel(resolved), " elements)");
  Tensor y = x.view(resolved);
  record("reshape", y, {x}, [x_shape = x.shape()](const Tensor& g) { return GradList{g.view(x_shape)}; });
  return y;
}

Tensor flatten(const Tensor& x) {
  check_defined("flatten", "x", x);
  XMKD_CHECK(x.ndim() >= 2, "flatten: x must be (N, ...) with at least 2 dimensions, got ", shape_str(x.shape()));
  int64_t rest = 1;
  for (int d = 1; d < x.ndim(); ++d) rest *= x.dim(d);
  return reshape(x, {x.dim(0), rest});
}

Tensor concat_channels(const std::vector<Tensor>& xs) {
  XMKD_CHECK(!xs.empty(), "concat_channels: needs at least one tensor");
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string arg = str_cat("xs[", i, "]");
    check_dtype("concat_channels", arg.c_str(), xs[i], DType::Float32);
    XMKD_CHECK(xs[i].ndim() >= 2, "concat_channels: tensor ", i, " must have a channel dim 1, got ",
               shape_str(xs[i].shape()));
    check_same_device("concat_channels", xs[0], xs[i]);
    bool match = xs[i].ndim() == xs[0].ndim();
    for (int d = 0; match && d < xs[0].ndim(); ++d) match = d == 1 || xs[i].dim(d) == xs[0].dim(d);
    XMKD_CHECK(match, "concat_channels: tensor ", i, " has shape ", shape_str(xs[i].shape()), " but tensor 0 has ",
               shape_str(xs[0].shape()), "; all dims except 1 must match");
  }
  const int64_t N = xs[0].dim(0), inner = inner_size(xs[0].shape());
  std::vector<int64_t> channels;
  int64_t total = 0;
  for (const Tensor& t : xs) {
    channels.push_back(t.dim(1));
    total += t.dim(1);
  }
  Shape out_shape = xs[0].shape();
  out_shape[1] = total;
  Tensor y = Tensor::empty(out_shape, DType::Float32, xs[0].device());
  int64_t offset = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    XMKD_DISPATCH(y.device(), copy_channels, N, inner, channels[i], xs[i].data<float>(), channels[i], 0,
                  y.data<float>(), total, offset);
    offset += channels[i];
  }

  std::vector<bool> need;
  std::vector<Shape> shapes;
  for (const Tensor& t : xs) {
    need.push_back(t.requires_grad());
    shapes.push_back(t.shape());
  }
  record("concat_channels", y, xs, [=](const Tensor& g) {
    // Each input's gradient is its channel block of g.
    GradList grads(shapes.size());
    int64_t at = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (need[i]) {
        grads[i] = Tensor::empty(shapes[i], DType::Float32, g.device());
        XMKD_DISPATCH(g.device(), copy_channels, N, inner, channels[i], g.data<float>(), total, at,
                      grads[i].data<float>(), channels[i], 0);
      }
      at += channels[i];
    }
    return grads;
  });
  return y;
}

Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end) {
  check_dtype("slice_channels", "x", x, DType::Float32);
  XMKD_CHECK(x.ndim() >= 2, "slice_channels: x must have a channel dim 1, got ", shape_str(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), inner = inner_size(x.shape());
  XMKD_CHECK(0 <= begin && begin <= end && end <= C, "slice_channels: range [", begin, ", ", end,
             ") is not within the ", C, " channels of ", shape_str(x.shape()));
  const int64_t count = end - begin;
  Shape out_shape = x.shape();
  out_shape[1] = count;
  Tensor y = Tensor::empty(out_shape, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), copy_channels, N, inner, count, x.data<float>(), C, begin, y.data<float>(), count, 0);
  record("slice_channels", y, {x}, [=, x_shape = x.shape()](const Tensor& g) {
    // Scatter g into its channel block of a zero gradient.
    Tensor gx = Tensor::zeros(x_shape, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), copy_channels, N, inner, count, g.data<float>(), count, 0, gx.data<float>(), C, begin);
    return GradList{gx};
  });
  return y;
}

std::vector<Tensor> split_channels(const Tensor& x, const std::vector<int64_t>& sizes) {
  check_dtype("split_channels", "x", x, DType::Float32);
  XMKD_CHECK(x.ndim() >= 2, "split_channels: x must have a channel dim 1, got ", shape_str(x.shape()));
  int64_t total = 0;
  for (int64_t s : sizes) {
    XMKD_CHECK(s >= 0, "split_channels: negative size ", s);
    total += s;
  }
  XMKD_CHECK(total == x.dim(1), "split_channels: sizes sum to ", total, " but x ", shape_str(x.shape()), " has ",
             x.dim(1), " channels");
  std::vector<Tensor> parts;
  int64_t begin = 0;
  for (int64_t s : sizes) {
    parts.push_back(slice_channels(x, begin, begin + s));
    begin += s;
  }
  return parts;
}

}  // namespace xmkd
