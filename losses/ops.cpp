// The distillation ops declared in losses/ops.h.
#include "losses/ops.h"

#include <vector>

#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd::losses {
namespace {

void check_rows(const char* op, const char* arg, const Tensor& x) {
  check_dtype(op, arg, x, DType::Float32);
  XMKD_CHECK(x.ndim() == 2, op, ": '", arg, "' must be 2-D rows (R, C), got shape ", shape_str(x.shape()));
}

// Checks `index` is an int64 vector whose values lie in [0, bound) (read on the host).
void check_indices(const char* op, const char* arg, const Tensor& index, int64_t expected_size, int64_t bound,
                   const Tensor& x) {
  check_defined(op, arg, index);
  XMKD_CHECK(index.dtype() == DType::Int64 && index.ndim() == 1, op, ": '", arg,
             "' must be a 1-D int64 tensor, got ", index.str());
  XMKD_CHECK(expected_size < 0 || index.dim(0) == expected_size, op, ": '", arg, "' of shape ",
             shape_str(index.shape()), " does not match x of shape ", shape_str(x.shape()));
  check_same_device(op, x, index);
  const std::vector<int64_t> values = index.to_vector<int64_t>();
  for (size_t k = 0; k < values.size(); ++k)
    XMKD_CHECK(values[k] >= 0 && values[k] < bound, op, ": '", arg, "'[", k, "] = ", values[k],
               " is outside [0, ", bound, ") for x of shape ", shape_str(x.shape()));
}

}  // namespace

Tensor zscore(const Tensor& x, float eps) {
  const char* op = "zscore";
  check_dtype(op, "x", x, DType::Float32);
  const Dim1Layout d = dim1_layout(op, "x", x);
  XMKD_CHECK(d.C >= 2, op, ": the unbiased std needs at least 2 values over dim 1, got shape ", shape_str(x.shape()));
  Tensor y = Tensor::empty_like(x);
  Tensor stdev = Tensor::empty(without_dim1(x.shape()), DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), zscore_forward, x.data<float>(), d.outer, d.C, d.inner, eps, y.data<float>(),
                stdev.data<float>());
  Tensor saved_y = y.detach();
  record(op, y, {x}, [saved_y, stdev, d, eps](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), zscore_backward, saved_y.data<float>(), stdev.data<float>(), g.data<float>(), d.outer,
                  d.C, d.inner, eps, dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor to_rows(const Tensor& x) {
  const char* op = "to_rows";
  check_dtype(op, "x", x, DType::Float32);
  const Dim1Layout d = dim1_layout(op, "x", x);
  if (x.ndim() == 2) return x;
  Tensor rows = Tensor::empty({d.positions(), d.C}, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), dim1_to_rows, x.data<float>(), d.outer, d.C, d.inner, rows.data<float>());
  const Shape shape = x.shape();
  record(op, rows, {x}, [shape, d](const Tensor& g) {
    Tensor dx = Tensor::empty(shape, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), rows_to_dim1, g.data<float>(), d.outer, d.C, d.inner, dx.data<float>());
    return GradList{dx};
  });
  return rows;
}

namespace {

// The ops on an index already checked (by check_indices or a CheckedIndex).
Tensor select_rows_checked(const char* op, const Tensor& x, const Tensor& index) {
  const int64_t C = x.dim(1), K = index.dim(0);
  Tensor y = Tensor::empty({K, C}, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), gather_rows, x.data<float>(), C, index.data<int64_t>(), K, y.data<float>());
  const Shape shape = x.shape();
  Tensor saved_index = index.detach();
  record(op, y, {x}, [shape, saved_index, C, K](const Tensor& g) {
    Tensor dx = Tensor::zeros(shape, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), scatter_add_rows, g.data<float>(), C, saved_index.data<int64_t>(), K, dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor add_at_labels_checked(const char* op, const Tensor& x, const Tensor& labels, float value) {
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), add_at_labels_forward, x.data<float>(), labels.data<int64_t>(), x.dim(0), x.dim(1), value,
                y.data<float>());
  record(op, y, {x}, [](const Tensor& g) { return GradList{g}; });
  return y;
}

Tensor gather_labels_checked(const char* op, const Tensor& x, const Tensor& labels) {
  const int64_t R = x.dim(0), C = x.dim(1);
  Tensor y = Tensor::empty({R, 1}, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), gather_labels_forward, x.data<float>(), labels.data<int64_t>(), R, C, y.data<float>());
  Tensor saved_labels = labels.detach();
  record(op, y, {x}, [saved_labels, R, C](const Tensor& g) {
    Tensor dx = Tensor::empty({R, C}, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), gather_labels_backward, g.data<float>(), saved_labels.data<int64_t>(), R, C,
                  dx.data<float>());
    return GradList{dx};
  });
  return y;
}

// A CheckedIndex used on x: on its device, of the expected length, its bound within `limit`.
void check_checked(const char* op, const char* arg, const CheckedIndex& index, int64_t expected_size, int64_t limit,
                   const Tensor& x) {
  check_same_device(op, x, index.tensor());
  XMKD_CHECK(expected_size < 0 || index.tensor().dim(0) == expected_size, op, ": '", arg, "' of shape ",
             shape_str(index.tensor().shape()), " does not match x of shape ", shape_str(x.shape()));
  XMKD_CHECK(index.bound() <= limit, op, ": '", arg, "' was checked against [0, ", index.bound(),
             ") but x of shape ", shape_str(x.shape()), " has only ", limit);
}

}  // namespace

CheckedIndex::CheckedIndex(const std::vector<int64_t>& values, int64_t bound, Device device, const std::string& what)
    : bound_(bound) {
  for (size_t k = 0; k < values.size(); ++k)
    XMKD_CHECK(values[k] >= 0 && values[k] < bound, what, "[", k, "] = ", values[k], " is outside [0, ", bound, ")");
  tensor_ = Tensor::from_vector(values, {static_cast<int64_t>(values.size())}, device);
}

Tensor select_rows(const Tensor& x, const Tensor& index) {
  check_rows("select_rows", "x", x);
  check_indices("select_rows", "index", index, -1, x.dim(0), x);
  return select_rows_checked("select_rows", x, index);
}

Tensor select_rows(const Tensor& x, const CheckedIndex& index) {
  check_rows("select_rows", "x", x);
  check_checked("select_rows", "index", index, -1, x.dim(0), x);
  return select_rows_checked("select_rows", x, index.tensor());
}

Tensor add_at_labels(const Tensor& x, const Tensor& labels, float value) {
  check_rows("add_at_labels", "x", x);
  check_indices("add_at_labels", "labels", labels, x.dim(0), x.dim(1), x);
  return add_at_labels_checked("add_at_labels", x, labels, value);
}

Tensor add_at_labels(const Tensor& x, const CheckedIndex& labels, float value) {
  check_rows("add_at_labels", "x", x);
  check_checked("add_at_labels", "labels", labels, x.dim(0), x.dim(1), x);
  return add_at_labels_checked("add_at_labels", x, labels.tensor(), value);
}

Tensor gather_labels(const Tensor& x, const Tensor& labels) {
  check_rows("gather_labels", "x", x);
  check_indices("gather_labels", "labels", labels, x.dim(0), x.dim(1), x);
  return gather_labels_checked("gather_labels", x, labels);
}

Tensor gather_labels(const Tensor& x, const CheckedIndex& labels) {
  check_rows("gather_labels", "x", x);
  check_checked("gather_labels", "labels", labels, x.dim(0), x.dim(1), x);
  return gather_labels_checked("gather_labels", x, labels.tensor());
}

Tensor logsumexp_rows(const Tensor& x) {
  const char* op = "logsumexp_rows";
  check_rows(op, "x", x);
  const int64_t R = x.dim(0), C = x.dim(1);
  XMKD_CHECK(C >= 1, op, ": x of shape ", shape_str(x.shape()), " has no columns");
  Tensor y = Tensor::empty({R, 1}, DType::Float32, x.device());
  XMKD_DISPATCH(x.device(), logsumexp_rows_forward, x.data<float>(), R, C, y.data<float>());
  Tensor saved_x = x.detach(), saved_y = y.detach();
  record(op, y, {x}, [saved_x, saved_y, R, C](const Tensor& g) {
    Tensor dx = Tensor::empty({R, C}, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), logsumexp_rows_backward, saved_x.data<float>(), saved_y.data<float>(), g.data<float>(),
                  R, C, dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor sigmoid(const Tensor& x) {
  check_dtype("sigmoid", "x", x, DType::Float32);
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), sigmoid_forward, x.numel(), x.data<float>(), y.data<float>());
  Tensor saved_y = y.detach();
  record("sigmoid", y, {x}, [saved_y](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), sigmoid_backward, g.numel(), saved_y.data<float>(), g.data<float>(), dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor reciprocal(const Tensor& x) {
  check_dtype("reciprocal", "x", x, DType::Float32);
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), reciprocal_forward, x.numel(), x.data<float>(), y.data<float>());
  Tensor saved_y = y.detach();
  record("reciprocal", y, {x}, [saved_y](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), reciprocal_backward, g.numel(), saved_y.data<float>(), g.data<float>(),
                  dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor gram_rows_mse(const Tensor& a, const Tensor& b, int64_t direct_max_rows) {
  const char* op = "gram_rows_mse";
  check_rows(op, "a", a);
  check_rows(op, "b", b);
  check_same_shape(op, a, b);
  const int64_t R = a.dim(0);
  if (R <= direct_max_rows) return mse_loss(matmul(a, a, false, true), matmul(b, b, false, true));
  auto squared_norm = [](const Tensor& m) { return sum(mul(m, m)); };
  Tensor aa = squared_norm(matmul(a, a, true, false));
  Tensor ab = squared_norm(matmul(a, b, true, false));
  Tensor bb = squared_norm(matmul(b, b, true, false));
  Tensor total = add(sub(aa, scale(ab, 2.0f)), bb);
  return scale(total, static_cast<float>(1.0 / (static_cast<double>(R) * static_cast<double>(R))));
}

}  // namespace xmkd::losses
