// matmul and linear (engine/ops.h); GEMM kernel in kernels/cpu/gemm.cpp.
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd {
namespace {

// c = op(a) op(b) as a new (M,N) tensor; a and b are stored as the flags say (linalg.def).
Tensor gemm_new(const Tensor& a, bool ta, const Tensor& b, bool tb, int64_t M, int64_t N, int64_t K) {
  Tensor c = Tensor::empty({M, N}, DType::Float32, a.device());
  XMKD_DISPATCH(a.device(), gemm, ta, tb, M, N, K, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
  return c;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  check_dtype("matmul", "a", a, DType::Float32);
  check_dtype("matmul", "b", b, DType::Float32);
  check_ndim("matmul", "a", a, 2);
  check_ndim("matmul", "b", b, 2);
  check_same_device("matmul", a, b);
  const int64_t M = transpose_a ? a.dim(1) : a.dim(0);
  const int64_t K = transpose_a ? a.dim(0) : a.dim(1);
  const int64_t Kb = transpose_b ? b.dim(1) : b.dim(0);
  const int64_t N = transpose_b ? b.dim(0) : b.dim(1);
  XMKD_CHECK(K == Kb, "matmul: inner dimensions differ: op(a) is (", M, ", ", K, ") from a ", shape_str(a.shape()),
             transpose_a ? " transposed" : "", ", op(b) is (", Kb, ", ", N, ") from b ", shape_str(b.shape()),
             transpose_b ? " transposed" : "");
  Tensor c = gemm_new(a, transpose_a, b, transpose_b, M, N, K);

  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor saved_a = need_b ? a.detach() : Tensor();
  Tensor saved_b = need_a ? b.detach() : Tensor();
  record("matmul", c, {a, b}, [=](const Tensor& g) {
    // d op(a) = g op(b)ᵀ (M,K); d op(b) = op(a)ᵀ g (K,N); a transposed operand takes the transpose.
    Tensor ga, gb;
    if (need_a) {
      ga = transpose_a ? gemm_new(saved_b, transpose_b, g, true, K, M, N)     // da = op(b) gᵀ  (K,M)
                       : gemm_new(g, false, saved_b, !transpose_b, M, K, N);  // da = g op(b)ᵀ  (M,K)
    }
    if (need_b) {
      gb = transpose_b ? gemm_new(g, true, saved_a, transpose_a, N, K, M)     // db = gᵀ op(a)  (N,K)
                       : gemm_new(saved_a, !transpose_a, g, false, K, N, M);  // db = op(a)ᵀ g  (K,N)
    }
    return GradList{ga, gb};
  });
  return c;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_dtype("linear", "x", x, DType::Float32);
  check_dtype("linear", "weight", weight, DType::Float32);
  check_ndim("linear", "x", x, 2);
  check_ndim("linear", "weight", weight, 2);
  check_same_device("linear", x, weight);
  const int64_t N = x.dim(0), in = x.dim(1), out = weight.dim(0);
  XMKD_CHECK(weight.dim(1) == in, "linear: x ", shape_str(x.shape()), " has ", in, " features but weight ",
             shape_str(weight.shape()), " expects ", weight.dim(1), " (weight is (out, in))");
  if (bias.defined()) {
    check_dtype("linear", "bias", bias, DType::Float32);
    check_same_device("linear", x, bias);
    XMKD_CHECK(bias.shape() == Shape{out}, "linear: bias must be (", out, ",) for weight ",
               shape_str(weight.shape()), ", got ", shape_str(bias.shape()));
  }
  // y = x wᵀ (+ b per output feature)
  Tensor y = gemm_new(x, false, weight, true, N, out, in);
  if (bias.defined())
    XMKD_DISPATCH(x.device(), bias_add, N, out, 1, y.data<float>(), bias.data<float>(), y.data<float>());

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  Tensor saved_x = need_w ? x.detach() : Tensor();
  Tensor saved_w = need_x ? weight.detach() : Tensor();
  record("linear", y, {x, weight, bias}, [=](const Tensor& g) {
    // dx = g w (N,in);  dw = gᵀ x (out,in);  db = Σ_n g (out)
    Tensor gx, gw, gb;
    if (need_x) gx = gemm_new(g, false, saved_w, false, N, in, out);
    if (need_w) gw = gemm_new(g, true, saved_x, false, out, in, N);
    if (need_b) {
      gb = Tensor::empty({out}, DType::Float32, g.device());
      XMKD_DISPATCH(g.device(), channel_sum, N, out, 1, g.data<float>(), gb.data<float>());
    }
    return GradList{gx, gw, gb};
  });
  return y;
}

}  // namespace xmkd
