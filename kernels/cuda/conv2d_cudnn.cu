// Convolution through cuDNN: the "cudnn" backend of kernels/cuda/backends.h, in FP32.
//
// Per device and geometry a Plan is built once and cached for the process: the x / y / bias
// tensor, filter and convolution descriptors, and for each pass the algorithm cuDNN's heuristics
// (cudnnGet*Algorithm_v7) rank first among the usable ones, with its workspace size. Usable:
//   deterministic (no atomics: the same inputs give the same bits, like the other backends);
//   FP32 arithmetic: the convolution descriptor's math type is CUDNN_FMA_MATH, which rules out
//     TF32 tensor cores, and algorithms reporting tensor-op math are skipped;
//   not FFT-based: an FFT conv's error scales with the magnitude of the whole map, not with each
//     output's own Σ|w·x| as a direct sum's does.
// When none qualifies, the plain implicit-GEMM algorithm of the pass (always supported,
// deterministic) is used. Its workspace is the kernel's `workspace` argument, sized by
// conv2d_cudnn_workspace_size (kernels/defs/conv.def: conv2d_workspace).
// Bias: cudnnAddTensor (forward, y += bias) and cudnnConvolutionBackwardBias (db).
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/backends.h"
#include "kernels/cuda/cudnn_support.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"

#ifdef XMKD_WITH_CUDNN

namespace xmkd::cuda {
namespace {

int to_int(int64_t v) { return cudnn_int(v, "conv2d"); }

// The first of cuDNN's ranked algorithms that is usable (see the top of the file): it ran,
// deterministic, FP32 math, not one of the pass's two FFT algorithms. `fallback` when none is.
template <class Perf, class Algo>
Algo first_usable(const std::vector<Perf>& perfs, int returned, Algo fft, Algo fft_tiling, Algo fallback) {
  for (int i = 0; i < returned; ++i) {
    const Perf& perf = perfs[static_cast<size_t>(i)];
    if (perf.status == CUDNN_STATUS_SUCCESS && perf.determinism == CUDNN_DETERMINISTIC &&
        perf.mathType != CUDNN_TENSOR_OP_MATH && perf.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
        perf.algo != fft && perf.algo != fft_tiling)
      return perf.algo;
  }
  return fallback;
}

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t forward = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnConvolutionBwdDataAlgo_t backward_data = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  cudnnConvolutionBwdFilterAlgo_t backward_filter = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  size_t forward_bytes = 0, backward_data_bytes = 0, backward_filter_bytes = 0;
};

void choose_forward(cudnnHandle_t handle, Plan& plan) {
  int count = 0, returned = 0;
  XMKD_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perfs(static_cast<size_t>(count));
  XMKD_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan.x, plan.w, plan.conv, plan.y, count,
                                                          &returned, perfs.data()));
  plan.forward = first_usable(perfs, returned, CUDNN_CONVOLUTION_FWD_ALGO_FFT,
                              CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, plan.forward);
  XMKD_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, plan.x, plan.w, plan.conv, plan.y, plan.forward,
                                                           &plan.forward_bytes));
}

void choose_backward_data(cudnnHandle_t handle, Plan& plan) {
  int count = 0, returned = 0;
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perfs(static_cast<size_t>(count));
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, plan.w, plan.y, plan.conv, plan.x, count,
                                                               &returned, perfs.data()));
  plan.backward_data = first_usable(perfs, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT,
                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, plan.backward_data);
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, plan.w, plan.y, plan.conv, plan.x,
                                                                plan.backward_data, &plan.backward_data_bytes));
}

void choose_backward_filter(cudnnHandle_t handle, Plan& plan) {
  int count = 0, returned = 0;
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perfs(static_cast<size_t>(count));
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, plan.x, plan.y, plan.conv, plan.w, count,
                                                                 &returned, perfs.data()));
  plan.backward_filter = first_usable(perfs, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT,
                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, plan.backward_filter);
  XMKD_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, plan.x, plan.y, plan.conv, plan.w,
                                                                  plan.backward_filter, &plan.backward_filter_bytes));
}

std::unique_ptr<Plan> make_plan(cudnnHandle_t handle, const Conv2dGeometry& g) {
  auto plan = std::make_unique<Plan>();
  Plan& p = *plan;
  XMKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  XMKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  XMKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.bias));
  XMKD_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  XMKD_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  XMKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(g.N), to_int(g.C),
                                              to_int(g.H), to_int(g.W)));
  XMKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(g.N), to_int(g.K),
                                              to_int(g.P), to_int(g.Q)));
  XMKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, to_int(g.K), 1, 1));
  XMKD_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(g.K), to_int(g.C),
                                              to_int(g.R), to_int(g.S)));
  XMKD_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, to_int(g.pad), to_int(g.pad), to_int(g.stride),
                                                   to_int(g.stride), to_int(g.dilation), to_int(g.dilation),
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  XMKD_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH));
  int n = 0, k = 0, h = 0, w = 0;
  XMKD_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &k, &h, &w));
  XMKD_CHECK(n == g.N && k == g.K && h == g.P && w == g.Q, "conv2d (cuDNN): output (", n, ",", k, ",", h, ",", w,
             ") differs from the op's (", g.N, ",", g.K, ",", g.P, ",", g.Q, ")");
  choose_forward(handle, p);
  choose_backward_data(handle, p);
  choose_backward_filter(handle, p);
  return plan;
}

// The plan of this device and geometry, built on first use.
const Plan& plan_for(cudnnHandle_t handle, const Conv2dGeometry& g) {
  using Key = std::array<int64_t, 13>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<Plan>> plans;   // kept for the process, like the handles
  const Key key{cudnn_device(), g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.stride, g.pad, g.dilation};
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<Plan>& plan = plans[key];
  if (!plan) plan = make_plan(handle, g);
  return *plan;
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

bool cudnn_compiled() { return true; }

int64_t conv2d_cudnn_workspace_size(const Conv2dGeometry& g, ConvPass pass) {
  if (g.N == 0) return 0;   // nothing runs (see the kernels below)
  const Plan& p = plan_for(cudnn_handle(), g);
  const size_t bytes = pass == ConvPass::Forward        ? p.forward_bytes
                       : pass == ConvPass::BackwardData ? p.backward_data_bytes
                                                        : p.backward_filter_bytes;
  return static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
}

void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          float* workspace) {
  if (g.N == 0) return;
  cudnnHandle_t handle = cudnn_handle();
  const Plan& p = plan_for(handle, g);
  XMKD_CUDNN_CHECK(cudnnConvolutionForward(handle, &kOne, p.x, x, p.w, w, p.conv, p.forward, workspace,
                                           p.forward_bytes, &kZero, p.y, y));
  if (bias) XMKD_CUDNN_CHECK(cudnnAddTensor(handle, &kOne, p.bias, bias, &kOne, p.y, y));
}

void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace) {
  if (g.N == 0) return;
  cudnnHandle_t handle = cudnn_handle();
  const Plan& p = plan_for(handle, g);
  XMKD_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &kOne, p.w, w, p.y, dy, p.conv, p.backward_data, workspace,
                                                p.backward_data_bytes, &kZero, p.x, dx));
}

void conv2d_backward_weight_cudnn(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                                  float* workspace) {
  if (g.N == 0) {   // cuDNN rejects an empty batch; the sums over it are 0
    if (dw) memset_zero(dw, sizeof(float) * g.K * g.C * g.R * g.S);
    if (db) memset_zero(db, sizeof(float) * g.K);
    return;
  }
  cudnnHandle_t handle = cudnn_handle();
  const Plan& p = plan_for(handle, g);
  if (db) XMKD_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle, &kOne, p.y, dy, &kZero, p.bias, db));
  if (!dw) return;
  XMKD_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &kOne, p.x, x, p.y, dy, p.conv, p.backward_filter,
                                                  workspace, p.backward_filter_bytes, &kZero, p.w, dw));
}

}  // namespace xmkd::cuda

#else  // built without cuDNN

namespace xmkd::cuda {
namespace {
[[noreturn]] void no_cudnn() { fail("xmkd was built without cuDNN: use XMKD_CONV_BACKEND=handwritten"); }
}  // namespace

bool cudnn_compiled() { return false; }
int64_t conv2d_cudnn_workspace_size(const Conv2dGeometry&, ConvPass) { no_cudnn(); }
void conv2d_forward_cudnn(const Conv2dGeometry&, const float*, const float*, const float*, float*, float*) { no_cudnn(); }
void conv2d_backward_data_cudnn(const Conv2dGeometry&, const float*, const float*, float*, float*) { no_cudnn(); }
void conv2d_backward_weight_cudnn(const Conv2dGeometry&, const float*, const float*, float*, float*, float*) {
  no_cudnn();
}

}  // namespace xmkd::cuda

#endif
