// GEMM through OpenBLAS (kernels/defs/linalg.def). OpenBLAS threads itself, so this is never
// called from inside an OpenMP parallel region.
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "kernels/kernels.h"

namespace xmkd::cpu {

void gemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
          const float* b, float beta, float* c) {
  if (M == 0 || N == 0) return;
  if (K == 0) {   // an empty product: c = beta * c (BLAS rejects a zero leading dimension)
    for (int64_t i = 0; i < M * N; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
    return;
  }
  // Row-major leading dimensions: the stored row lengths of a (M,K)/(K,M) and b (K,N)/(N,K).
  const int64_t lda = transpose_a ? M : K;
  const int64_t ldb = transpose_b ? K : N;
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(N));
}

}  // namespace xmkd::cpu
