// The engine's CUDA runtime (runtime.h) and the per-device stream and cuBLAS handle every kernel
// file uses (launch.cuh).
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"

#ifdef XMKD_WITH_CUDNN
#include <cudnn.h>
#endif

namespace xmkd::cuda {
namespace {

constexpr int kMaxDevices = 64;

int current_device() {
  int device = 0;
  XMKD_CUDA_CHECK(cudaGetDevice(&device));
  XMKD_CHECK(device < kMaxDevices, "CUDA device ", device, " is beyond the ", kMaxDevices, " xmkd supports");
  return device;
}

// The stream and cuBLAS handle of each device, created on first use and kept for the process
// (destroying them at exit would race the driver's own teardown).
struct DeviceContext {
  std::once_flag stream_once, cublas_once;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
};
DeviceContext g_contexts[kMaxDevices];

}  // namespace

cudaStream_t stream() {
  DeviceContext& ctx = g_contexts[current_device()];
  // A blocking stream (not cudaStreamNonBlocking): it also orders itself after anything issued on
  // the legacy default stream, so a stray default-stream call cannot race the backend.
  std::call_once(ctx.stream_once, [&ctx] { XMKD_CUDA_CHECK(cudaStreamCreate(&ctx.stream)); });
  return ctx.stream;
}

void* current_stream() { return stream(); }

void set_device(int device) { XMKD_CUDA_CHECK(cudaSetDevice(device)); }

cublasHandle_t cublas_handle() {
  DeviceContext& ctx = g_contexts[current_device()];
  std::call_once(ctx.cublas_once, [&ctx] {
    XMKD_CUBLAS_CHECK(cublasCreate(&ctx.cublas));
    XMKD_CUBLAS_CHECK(cublasSetStream(ctx.cublas, stream()));
    // Plain float32 arithmetic: no TF32 tensor-core rounding of the inputs.
    XMKD_CUBLAS_CHECK(cublasSetMathMode(ctx.cublas, CUBLAS_DEFAULT_MATH));
  });
  return ctx.cublas;
}

bool compiled() { return true; }

namespace {
// cudaGetDeviceCount's answer; an error (no device, no driver, a driver too old for this runtime)
// counts as no device, and is kept for device_status().
cudaError_t count_devices(int* n) {
  *n = 0;
  const cudaError_t status = cudaGetDeviceCount(n);
  if (status != cudaSuccess) {
    cudaGetLastError();
    *n = 0;
  }
  return status;
}
}  // namespace

int device_count() {
  int n = 0;
  count_devices(&n);
  return n;
}

std::string device_status() {
  int n = 0;
  const cudaError_t status = count_devices(&n);
  if (n > 0) return "";
  if (status == cudaSuccess) return "no CUDA device: the driver reports none";
  return str_cat("no CUDA device: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ")");
}

// Called by every launch (blocks_for): after the first call per device it is one cudaGetDevice.
int multiprocessor_count() {
  static const bool any = device_count() > 0;
  if (!any) return 0;
  static std::once_flag once[kMaxDevices];
  static int counts[kMaxDevices];
  const int device = current_device();
  std::call_once(once[device], [device] {
    XMKD_CUDA_CHECK(cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device));
  });
  return counts[device];
}

bool sync_after_launch() {
  static const bool on = [] {
    const char* value = std::getenv("XMKD_CUDA_SYNC");
    return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
  }();
  return on;
}

void check_launch(const char* file, int line) {
  cudaError_t status = cudaGetLastError();
  const char* what = "kernel launch";
  if (status == cudaSuccess && sync_after_launch()) {
    status = cudaStreamSynchronize(stream());
    what = "kernel (XMKD_CUDA_SYNC=1: synchronised after its launch)";
  }
  if (status != cudaSuccess)
    fail("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") in the ", what, " at ", file, ":",
         line);
}

void* device_malloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    // Cleared, so that the caching allocator's retry after freeing its cache (allocator.cpp) does
    // not leave the failure behind for the next launch check to report.
    cudaGetLastError();
    return nullptr;
  }
  if (status != cudaSuccess)
    fail("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") in cudaMalloc of ", bytes,
         " bytes at ", __FILE__, ":", __LINE__,
         status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver ? " (see `xmkd info`; or use --device cpu)"
                                                                               : "");
  return p;
}

// cudaFree waits for the device, so no queued kernel can still be using the block.
void device_free(void* ptr) { XMKD_CUDA_CHECK(cudaFree(ptr)); }

// Host memory is involved: wait for the copy, so that src may be reused (it may be a pinned
// staging buffer the caller refills at once) and dst read as soon as this returns.
void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()));
  XMKD_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  XMKD_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

// Device memory only: ordered with the kernels on the stream, nothing to wait for.
void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void memset_zero(void* ptr, size_t bytes) { XMKD_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, stream())); }

void* host_malloc_pinned(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();   // clear the sticky error: the caller falls back to pageable memory
    return nullptr;
  }
  return p;
}

void host_free_pinned(void* ptr) { XMKD_CUDA_CHECK(cudaFreeHost(ptr)); }

void synchronize() { XMKD_CUDA_CHECK(cudaDeviceSynchronize()); }

DeviceProperties device_properties(int device) {
  cudaDeviceProp prop{};
  XMKD_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceProperties out;
  out.name = prop.name;
  out.major = prop.major;
  out.minor = prop.minor;
  out.multiprocessors = prop.multiProcessorCount;
  int previous = 0;
  XMKD_CUDA_CHECK(cudaGetDevice(&previous));
  XMKD_CUDA_CHECK(cudaSetDevice(device));
  XMKD_CUDA_CHECK(cudaMemGetInfo(&out.free_bytes, &out.total_bytes));
  XMKD_CUDA_CHECK(cudaSetDevice(previous));
  return out;
}

namespace {
// CUDA encodes versions as 1000·major + 10·minor.
std::string cuda_version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }
}  // namespace

LibraryVersions library_versions() {
  LibraryVersions out;
  int driver = 0, runtime = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) cudaGetLastError();
  XMKD_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  out.driver = driver > 0 ? cuda_version_str(driver) : "none";
  out.runtime = cuda_version_str(runtime);
  int major = 0, minor = 0, patch = 0;
  XMKD_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &major));
  XMKD_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &minor));
  XMKD_CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
  out.cublas = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
#ifdef XMKD_WITH_CUDNN
  // cuDNN 9 encodes 10000·major + 100·minor + patch.
  const size_t v = cudnnGetVersion();
  out.cudnn = std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
#else
  out.cudnn = "not built";
#endif
  return out;
}

}  // namespace xmkd::cuda
