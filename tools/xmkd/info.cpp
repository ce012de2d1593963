// `xmkd info`: what this build can do: backends, devices, libraries.
#include <cblas.h>
#include <omp.h>

#include <cstdio>

#include "engine/device.h"
#include "kernels/cuda/runtime.h"
#include "tools/train/distributed.h"
#include "tools/train/onnx_export.h"
#include "tools/xmkd/commands.h"

extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_parallel(void);   // 0 sequential, 1 pthreads, 2 OpenMP

namespace xmkd::cli {
namespace {

double gib(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

void print_cuda() {
  if (!built_with_cuda()) {
    std::printf("  cuda: built without CUDA\n");
    return;
  }
  const cuda::LibraryVersions v = cuda::library_versions();
  std::printf("  cuda: driver %s, runtime %s, cuBLAS %s, cuDNN %s\n", v.driver.c_str(), v.runtime.c_str(),
              v.cublas.c_str(), v.cudnn.c_str());
  const int n = cuda::device_count();
  if (n == 0) {
    std::printf("  cuda device: %s\n", cuda::device_status().c_str());
    return;
  }
  for (int d = 0; d < n; ++d) {
    const cuda::DeviceProperties p = cuda::device_properties(d);
    std::printf("  cuda device %d: %s, compute capability %d.%d, %d SMs, memory %.1f GiB total, %.1f GiB free\n", d,
                p.name.c_str(), p.major, p.minor, p.multiprocessors, gib(p.total_bytes), gib(p.free_bytes));
  }
}

}  // namespace

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the build's backends, devices and library versions");
  cmd->callback([] {
    std::printf("%s\n", version_line().c_str());
    const int parallel = openblas_get_parallel();
    // openblas_get_config() starts with "OpenBLAS <version>".
    std::printf("  cpu: %d OpenMP threads; %s (%s)\n", omp_get_max_threads(), openblas_get_config(),
                parallel == 2 ? "OpenMP build" : parallel == 1 ? "pthreads build: expect contention" : "sequential");
    print_cuda();
    if (train::onnx_export_available()) {
      std::printf("  onnx export: opset %lld\n", static_cast<long long>(train::kOnnxOpset));
    } else {
      std::printf("  onnx export: built without ONNX export\n");
    }
    std::printf("  data parallel: mpi %s, nccl %s (train.distributed; docs/distributed.md)\n",
                train::mpi_compiled() ? "yes" : "built without MPI", train::nccl_compiled() ? "yes" : "no (needs CUDA and NCCL)");
  });
}

}  // namespace xmkd::cli
