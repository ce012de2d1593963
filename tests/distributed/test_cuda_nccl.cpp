// The NCCL backend on a GPU machine (ctest label gpu; skips without a device): one rank under
// mpirun with train.distributed=nccl and synchronised batch norm, whose collectives (the batch
// norm sums, the per-step loss values) then sum one rank's values, ends bit-identical to the
// same run in one process without a launcher, which runs the same split batch-norm kernels.
#include <gtest/gtest.h>

#include "tests/distributed/mpi_runs.h"
#include "tests/support/cuda_skip.h"
#include "tests/support/temp_dir.h"

namespace xmkd {
namespace {

using namespace testing;

TEST(NcclTraining, OneRankEqualsOneProcess) {
  XMKD_SKIP_WITHOUT_CUDA();
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)";
  TempDir dir("xmkd_nccl");
  std::string out;
  const std::string cuda = small_run(32) + " --device cuda --set train.sync_batchnorm=true --stop-after-steps 4";
  ASSERT_EQ(run("", cuda + " --out " + dir.path("alone"), dir.path("a.log"), &out), 130) << out;
  ASSERT_EQ(run("mpirun -np 1", cuda + " --set train.distributed=nccl --out " + dir.path("nccl"), dir.path("b.log"), &out), 130)
      << out;
  std::string where;
  EXPECT_EQ(max_abs_diff(load_checkpoint(dir.path("alone/last.safetensors")), load_checkpoint(dir.path("nccl/last.safetensors")),
                         "", &where), 0.0)
      << "at " << where;
}

}  // namespace
}  // namespace xmkd
