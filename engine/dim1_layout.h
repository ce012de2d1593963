// The "over dim 1" view shared by softmax, the losses and the similarities: a tensor
// (N, C, d2, d3, ...) is outer = N rows of C values at inner = d2·d3·... positions each, so one
// kernel serves (N, C) and (N, C, H, W) alike.
#pragma once
#include "engine/tensor.h"

namespace xmkd {

struct Dim1Layout {
  int64_t outer = 0, C = 0, inner = 1;
  int64_t positions() const { return outer * inner; }
};

inline Dim1Layout dim1_layout(const char* op, const char* arg, const Tensor& x) {
  XMKD_CHECK(x.ndim() >= 2, op, ": '", arg, "' must have at least 2 dimensions (N, C, ...), got shape ",
             shape_str(x.shape()));
  Dim1Layout d;
  d.outer = x.dim(0);
  d.C = x.dim(1);
  for (int k = 2; k < x.ndim(); ++k) d.inner *= x.dim(k);
  return d;
}

// (N, C, d2, ...) -> (N, d2, ...): the shape of one value per position.
inline Shape without_dim1(const Shape& shape) {
  Shape s = shape;
  s.erase(s.begin() + 1);
  return s;
}

}  // namespace xmkd
