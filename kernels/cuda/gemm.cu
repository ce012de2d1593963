// GEMM (kernels/defs/linalg.def) through cuBLAS on the device's stream.
//
// Layout: cuBLAS is column-major, the engine row-major. A row-major (M,N) matrix is, read
// column-major, its transpose (N,M) with leading dimension N. So the row-major product
// c = op(a) op(b) is computed as the column-major product cᵀ = op(b)ᵀ op(a)ᵀ: cuBLAS gets b first,
// then a, each with the engine's transpose flag and its stored row length as leading dimension.
#include <climits>

#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// c = beta · c, or 0 when beta == 0 (ignoring NaN in c): the empty product K == 0, which cuBLAS
// would reject for its zero leading dimension.
__global__ void scale_or_zero_kernel(int64_t n, float beta, float* c) {
  XMKD_GRID_STRIDE(i, n) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

int to_int(int64_t v, const char* what) {
  XMKD_CHECK(v <= INT_MAX, "gemm: ", what, " = ", v, " exceeds cuBLAS's 32-bit sizes");
  return static_cast<int>(v);
}

}  // namespace

void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
          const float* b, float beta, float* c) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    XMKD_LAUNCH_OVER(M * N, scale_or_zero_kernel, M * N, beta, c);
    return;
  }
  // Row-major leading dimensions: the stored row lengths of a (M,K)/(K,M) and b (K,N)/(N,K).
  const int64_t lda = transpose_a ? M : K;
  const int64_t ldb = transpose_b ? K : N;
  XMKD_CUBLAS_CHECK(cublasSgemm(cublas_handle(), transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, to_int(N, "N"), to_int(M, "M"),
                                to_int(K, "K"), &alpha, b, to_int(ldb, "ldb"), a, to_int(lda, "lda"), &beta, c,
                                to_int(N, "ldc")));
}

}  // namespace xmkd::cuda
