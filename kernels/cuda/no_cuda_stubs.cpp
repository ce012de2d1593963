// Linked instead of the CUDA backend when xmkd is built without CUDA: every CUDA entry point
// throws "built without CUDA" so a request for the GPU fails loudly, never silently.
#include "engine/error.h"
#include "kernels/backends.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  fail("xmkd was built without CUDA: cannot run '", what,
       "' on a GPU (rebuild with nvcc available and -DXMKD_CUDA=ON, or use --device cpu)");
}
}  // namespace

#define XMKD_KERNEL(name, params) void name params { no_cuda(#name); }
#include "kernels/defs/all.def"
#undef XMKD_KERNEL

bool compiled() { return false; }
int device_count() { return 0; }
std::string device_status() { return "xmkd was built without CUDA"; }
int multiprocessor_count() { return 0; }
bool sync_after_launch() { return false; }
void check_launch(const char*, int) {}
void* device_malloc(size_t) { no_cuda("device_malloc"); }
void device_free(void*) { no_cuda("device_free"); }
void* current_stream() { no_cuda("current_stream"); }
void set_device(int) { no_cuda("set_device"); }
void copy_host_to_device(void*, const void*, size_t) { no_cuda("copy_host_to_device"); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda("copy_device_to_host"); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda("copy_device_to_device"); }
void memset_zero(void*, size_t) { no_cuda("memset_zero"); }
void synchronize() { no_cuda("synchronize"); }
void* host_malloc_pinned(size_t) { return nullptr; }   // callers fall back to ordinary memory
void host_free_pinned(void*) { no_cuda("host_free_pinned"); }
DeviceProperties device_properties(int) { no_cuda("device_properties"); }
LibraryVersions library_versions() { return {"not built", "not built", "not built", "not built"}; }

// The backend settings (backends.h): there is nothing to configure without CUDA.
const char* conv_backend_name(ConvBackend) { no_cuda("conv_backend_name"); }
ConvBackend parse_conv_backend(const std::string&) { no_cuda("parse_conv_backend"); }
ConvBackend conv_backend() { return ConvBackend::Handwritten; }
void set_conv_backend(ConvBackend) { no_cuda("set_conv_backend"); }
bool conv_backend_available(ConvBackend) { return false; }
const char* batchnorm_backend_name(BatchNormBackend) { no_cuda("batchnorm_backend_name"); }
BatchNormBackend parse_batchnorm_backend(const std::string&) { no_cuda("parse_batchnorm_backend"); }
BatchNormBackend batchnorm_backend() { return BatchNormBackend::Handwritten; }
void set_batchnorm_backend(BatchNormBackend) { no_cuda("set_batchnorm_backend"); }
bool batchnorm_backend_available(BatchNormBackend) { return false; }

}  // namespace xmkd::cuda

namespace xmkd::kernels {
void set_cuda_backend(BackendGroup, const std::string& name) {
  fail("xmkd was built without CUDA: there is no CUDA backend '", name, "' to select");
}
}  // namespace xmkd::kernels
