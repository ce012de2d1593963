// Probabilities and losses over dim 1: softmax, log_softmax, cross_entropy, kl_div_logits,
// kl_div_with_temperature (declared in engine/ops.h; kernels in kernels/defs/softmax_loss.def).
// A tensor (N, C, d2, ...) is handed to the kernels as (outer = N, C, inner = d2·...), so one
// kernel serves (N,C) logits and (N,C,H,W) score maps.
#include <cmath>

#include "engine/autograd.h"
#include "engine/dim1_layout.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

// Flat index -> "(n, h, w)" within `shape`, for error messages.
std::string index_str(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return shape_str(index);
}

}  // namespace

Tensor softmax(const Tensor& x) {
  check_dtype("softmax", "x", x, DType::Float32);
  const Dim1Layout d = dim1_layout("softmax", "x", x);
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), softmax_forward, x.data<float>(), d.outer, d.C, d.inner, y.data<float>());
  Tensor saved_y = y.detach();
  record("softmax", y, {x}, [saved_y, d](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), softmax_backward, saved_y.data<float>(), g.data<float>(), d.outer, d.C, d.inner,
                  dx.data<float>());
    return GradList{dx};
  });
  return y;
}

Tensor log_softmax(const Tensor& x) {
  check_dtype("log_softmax", "x", x, DType::Float32);
  const Dim1Layout d = dim1_layout("log_softmax", "x", x);
  Tensor y = Tensor::empty_like(x);
  XMKD_DISPATCH(x.device(), log_softmax_forward, x.data<float>(), d.outer, d.C, d.inner, y.data<float>());
  Tensor saved_y = y.detach();
  record("log_softmax", y, {x}, [saved_y, d](const Tensor& g) {
    Tensor dx = Tensor::empty_like(g);
    XMKD_DISPATCH(g.device(), log_softmax_backward, saved_y.data<float>(), g.data<float>(), d.outer, d.C, d.inner,
                  dx.data<float>());
    return GradList{dx};
  });
  return y;
}

// int32 labels are widened to int64 here, so the kernels read one label type.
// Invalid labels are reported by the forward kernel (first bad position) and raised here; on a
// GPU that costs one small device-to-host copy per call.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& options) {
  const char* op = "cross_entropy";
  check_dtype(op, "logits", logits, DType::Float32);
  check_defined(op, "labels", labels);
  XMKD_CHECK(labels.dtype() == DType::Int32 || labels.dtype() == DType::Int64, op,
             ": 'labels' must be int32 or int64 class indices, got ", labels.str());
  const Dim1Layout d = dim1_layout(op, "logits", logits);
  const Shape label_shape = without_dim1(logits.shape());
  XMKD_CHECK(labels.shape() == label_shape, op, ": labels of shape ", shape_str(labels.shape()),
             " do not match logits of shape ", shape_str(logits.shape()), "; expected labels of shape ",
             shape_str(label_shape));
  check_same_device(op, logits, labels);
  const Tensor& weights = options.class_weights;
  if (weights.defined()) {
    check_dtype(op, "class_weights", weights, DType::Float32);
    XMKD_CHECK(weights.ndim() == 1 && weights.dim(0) == d.C, op, ": class_weights must have shape ", shape_str({d.C}),
               " for logits of shape ", shape_str(logits.shape()), ", got ", shape_str(weights.shape()));
    check_same_device(op, logits, weights);
  }
  const Device device = logits.device();

  Tensor labels64 = labels;
  if (labels.dtype() == DType::Int32) {
    labels64 = Tensor::empty(labels.shape(), DType::Int64, device);
    XMKD_DISPATCH(device, widen_labels, labels.data<int32_t>(), labels.numel(), labels64.data<int64_t>());
  }
  Tensor lse = Tensor::empty(label_shape, DType::Float32, device);
  Tensor weight_sum = Tensor::empty({}, DType::Float32, device);
  Tensor loss = Tensor::empty({}, DType::Float32, device);
  Tensor bad_position = Tensor::empty({1}, DType::Int64, device);
  XMKD_DISPATCH(device, cross_entropy_forward, logits.data<float>(), labels64.data<int64_t>(), data_or_null(weights),
                d.outer, d.C, d.inner, options.ignore_index, lse.data<float>(), weight_sum.data<float>(),
                loss.data<float>(), bad_position.data<int64_t>());
  const int64_t bad = bad_position.to_vector<int64_t>()[0];
  if (bad >= 0) {
    const int64_t value = labels64.to_vector<int64_t>()[static_cast<size_t>(bad)];
    fail(op, ": label ", value, " at position ", index_str(bad, label_shape), " of labels ",
         shape_str(label_shape), " is outside [0, ", d.C, ") for logits of shape ", shape_str(logits.shape()),
         " and is not the ignore_index (", options.ignore_index, ")");
  }

  Tensor saved_logits = logits.detach(), saved_labels = labels64.detach(), saved_weights = weights.detach();
  const int64_t ignore_index = options.ignore_index;
  record(op, loss, {logits}, [=](const Tensor& g) {
    Tensor dlogits = Tensor::empty_like(saved_logits);
    XMKD_DISPATCH(g.device(), cross_entropy_backward, saved_logits.data<float>(), saved_labels.data<int64_t>(),
                  data_or_null(saved_weights), lse.data<float>(), weight_sum.data<float>(), g.data<float>(), d.outer,
                  d.C, d.inner, ignore_index, dlogits.data<float>());
    return GradList{dlogits};
  });
  return loss;
}

namespace {

// T² · KL(softmax(t/T) || softmax(s/T)), averaged over positions; kl_div_logits is T = 1.
Tensor kl_div_impl(const char* op, const Tensor& s, const Tensor& t, float temperature) {
  check_dtype(op, "student_logits", s, DType::Float32);
  check_dtype(op, "teacher_logits", t, DType::Float32);
  check_same_shape(op, s, t);
  check_same_device(op, s, t);
  XMKD_CHECK(std::isfinite(temperature) && temperature > 0.0f, op, ": temperature must be positive, got ",
             temperature);
  const Dim1Layout d = dim1_layout(op, "student_logits", s);
  const Device device = s.device();
  const Shape position_shape = without_dim1(s.shape());
  Tensor lse_s = Tensor::empty(position_shape, DType::Float32, device);
  Tensor lse_t = Tensor::empty(position_shape, DType::Float32, device);
  Tensor kl_pos = Tensor::empty(position_shape, DType::Float32, device);
  Tensor loss = Tensor::empty({}, DType::Float32, device);
  XMKD_DISPATCH(device, kl_div_forward, s.data<float>(), t.data<float>(), d.outer, d.C, d.inner, temperature,
                lse_s.data<float>(), lse_t.data<float>(), kl_pos.data<float>(), loss.data<float>());

  Tensor saved_s = s.detach(), saved_t = t.detach();
  const bool need_s = s.requires_grad(), need_t = t.requires_grad();
  record(op, loss, {s, t}, [=](const Tensor& g) {
    Tensor ds = need_s ? Tensor::empty_like(saved_s) : Tensor();
    Tensor dt = need_t ? Tensor::empty_like(saved_t) : Tensor();
    XMKD_DISPATCH(g.device(), kl_div_backward, saved_s.data<float>(), saved_t.data<float>(), lse_s.data<float>(),
                  lse_t.data<float>(), kl_pos.data<float>(), g.data<float>(), d.outer, d.C, d.inner, temperature,
                  data_or_null(ds), data_or_null(dt));
    return GradList{ds, dt};
  });
  return loss;
}

}  // namespace

Tensor kl_div_logits(const Tensor& student_logits, const Tensor& teacher_logits) {
  return kl_div_impl("kl_div_logits", student_logits, teacher_logits, 1.0f);
}

// The temperature is a kernel parameter (logits are divided by T inside the kernel) rather than
// a composition with scale(): one fused pass, no temporaries.
Tensor kl_div_with_temperature(const Tensor& student_logits, const Tensor& teacher_logits, float temperature) {
  return kl_div_impl("kl_div_with_temperature", student_logits, teacher_logits, temperature);
}

}  // namespace xmkd
