// `xmkd info`: what this build can do: backends, devices, libraries.
#include <cblas.h>
#include <omp.h>

#include <cstdio>

#include "engine/device.h"
#include "tools/xmkd/commands.h"

extern "C" char* openblas_get_config(void);

namespace xmkd::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the build's backends, devices and library versions");
  cmd->callback([] {
    std::printf("xmkd\n");
    std::printf("  cpu: %d OpenMP threads, OpenBLAS %s\n", omp_get_max_threads(), openblas_get_config());
    std::printf("  cuda backend: %s\n", built_with_cuda() ? "compiled" : "not compiled");
    std::printf("  cuda device: %s\n", cuda_available() ? "present" : "none");
  });
}

}  // namespace xmkd::cli
