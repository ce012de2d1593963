// `xmkd info`: what this build can do: backends, devices, libraries.
#include <cblas.h>
#include <omp.h>

#include <cstdio>

#include "engine/device.h"
#include "tools/xmkd/commands.h"

extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_parallel(void);   // 0 sequential, 1 pthreads, 2 OpenMP

namespace xmkd::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the build's backends, devices and library versions");
  cmd->callback([] {
    std::printf("xmkd\n");
    const int parallel = openblas_get_parallel();
    std::printf("  cpu: %d OpenMP threads; OpenBLAS %s (%s)\n", omp_get_max_threads(), openblas_get_config(),
                parallel == 2 ? "OpenMP build" : parallel == 1 ? "pthreads build: expect contention" : "sequential");
    std::printf("  cuda backend: %s\n", built_with_cuda() ? "compiled" : "not compiled");
    std::printf("  cuda device: %s\n", cuda_available() ? "present" : "none");
  });
}

}  // namespace xmkd::cli
