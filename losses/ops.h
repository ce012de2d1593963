// Differentiable ops the distillation losses (losses/distill.h) are built from. They follow
// engine/ops.h's conventions (argument checks naming the op and the shapes, kernels in
// kernels/defs/distill.def, tape nodes through record()). "Rows" are a 2-D (R, C) tensor, one
// logit vector per row; labels are int64 in [0, C) (checked on the host).
#pragma once
#include "engine/tensor.h"

namespace xmkd::losses {

// Per position over dim 1 of (N, C, ...), C >= 2: (x − mean) / (std + eps), with std the
// unbiased standard deviation sqrt(Σ(x − mean)² / (C − 1)) (torch.std's default).
Tensor zscore(const Tensor& x, float eps = 1e-7f);

// (N, C, d2, ...) -> (N·d2·..., C): the logit vector of every position as a row, positions in
// (n, d2, ...) order. A 2-D (N, C) tensor is returned unchanged.
Tensor to_rows(const Tensor& x);

// An int64 index vector whose values the host checked to lie in [0, bound) when it was made:
// the ops below take it as it is, where their Tensor forms copy the index back to the host to
// check it (a device round trip on CUDA).
class CheckedIndex {
 public:
  // Checks `values` against [0, bound) (the error names `what`, the position and the value) and
  // uploads them to `device` once.
  CheckedIndex(const std::vector<int64_t>& values, int64_t bound, Device device, const std::string& what);
  const Tensor& tensor() const { return tensor_; }
  int64_t bound() const { return bound_; }

 private:
  Tensor tensor_;
  int64_t bound_;
};

// x: (R, C)  index: (K) int64 in [0, R)  ->  (K, C) = x[index]. Backward scatter-adds.
Tensor select_rows(const Tensor& x, const Tensor& index);
Tensor select_rows(const Tensor& x, const CheckedIndex& index);

// x: (R, C)  labels: (R)  ->  x + value · onehot(labels) (gradient passes through unchanged).
Tensor add_at_labels(const Tensor& x, const Tensor& labels, float value);
Tensor add_at_labels(const Tensor& x, const CheckedIndex& labels, float value);
// x: (R, C)  labels: (R)  ->  (R, 1) = x[r, labels[r]].
Tensor gather_labels(const Tensor& x, const Tensor& labels);
Tensor gather_labels(const Tensor& x, const CheckedIndex& labels);
// x: (R, C)  ->  (R, 1) = log Σ_c exp(x[r, c]).
Tensor logsumexp_rows(const Tensor& x);

Tensor sigmoid(const Tensor& x);       // 1 / (1 + exp(−x)), elementwise
Tensor reciprocal(const Tensor& x);    // 1 / x, elementwise

// mean((A·Aᵀ − B·Bᵀ)²) for A, B: (R, C), the R×R Gram matrices compared entrywise (an MSE over R²
// entries). Up to direct_max_rows rows the Gram matrices are formed; above, the same value comes
// from C×C products, ‖AᵀA‖² − 2‖AᵀB‖² + ‖BᵀB‖² (Frobenius; tr(AAᵀBBᵀ) = ‖AᵀB‖²), divided by R²,
// so per-pixel losses over many positions never hold an R×R matrix. Composed of existing ops.
Tensor gram_rows_mse(const Tensor& a, const Tensor& b, int64_t direct_max_rows = 1024);

}  // namespace xmkd::losses
