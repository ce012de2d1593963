#include "engine/device.h"

#include "engine/error.h"
#include "kernels/cuda/runtime.h"

namespace xmkd {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") {
    XMKD_CHECK(cuda_available(), "device 'cuda': ", cuda::device_status(),
               built_with_cuda() ? " (`xmkd info` lists the devices; --device cpu runs without one)"
                                 : " (rebuild with nvcc available and -DXMKD_CUDA=ON, or use --device cpu)");
    return Device::CUDA;
  }
  fail("unknown device '", name, "': expected 'cpu' or 'cuda'");
}

bool built_with_cuda() { return cuda::compiled(); }

bool cuda_available() { return cuda::compiled() && cuda::device_count() > 0; }

}  // namespace xmkd
