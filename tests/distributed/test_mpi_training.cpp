// Data-parallel training through MPI, as a user runs it: `mpirun -np 2 xmkd train ...` on this
// machine (ctest label `distributed`; scripts/setup.sh installs OpenMPI). Every run is a small
// ResNet-18 student on the synthetic benchmark, one OpenMP thread per rank (and per process in
// the one-process references), so that each rank's kernels sum in the reference's order.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/distributed/mpi_runs.h"
#include "tests/support/temp_dir.h"

namespace xmkd {
namespace {

namespace fs = std::filesystem;
using namespace testing;

// 2 ranks with batch B and synchronised batch norm take the steps of 1 process with batch 2B:
// the same global batches (the loader shards each into the ranks' halves), the same loss (the
// mean of two means of B), the same batch statistics (summed over the ranks). What differs is
// the order of the float32 sums (each rank's half, then the pair; GEMMs blocked for B rows, not
// 2B). The sizes make the CPU convolution pick the same algorithm for B and 2B images (Winograd
// where a batch has at least 64 tiles: layer1 at 16x16 with B = 16), since Winograd and the GEMM
// path round differently and, on the synthetic scenes' flat regions, then break max-pool ties
// differently. This small network on these scenes magnifies any rounding difference about
// tenfold per step (the one-process fused and split batch-norm kernels, the same math, drift
// apart from 6e-7 after one step to 7e-6 after two at lr 0.01), so the comparison is after 4
// steps at lr 0.002: measured 1.1e-6 (a few float32 ulps of a running variance of ~2-5, as between
// the two one-process kernels), bound 1e-5. 2 ranks without synchronised batch norm, whose
// statistics are those of B samples, differ by 0.44 there: the bound tells the two apart.
TEST(MpiTraining, TwoRanksWithSyncBatchNormMatchOneProcessWithTwiceTheBatch) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)";
  TempDir dir("xmkd_mpi");
  std::string out;
  const std::string four_steps = " --stop-after-steps 4";   // ends as interrupted: exit status 130
  ASSERT_EQ(run("", small_run(32) + four_steps + " --set train.sync_batchnorm=true --out " + dir.path("one"), dir.path("one.log"), &out), 130) << out;
  ASSERT_EQ(run(kTwoRanks, small_run(16) + four_steps + " --set train.distributed=mpi --set train.sync_batchnorm=true --out " + dir.path("two"),
                dir.path("two.log"), &out), 130) << out;
  EXPECT_NE(out.find("2 data-parallel ranks"), std::string::npos) << out;
  ASSERT_EQ(run(kTwoRanks, small_run(16) + four_steps + " --set train.distributed=mpi --out " + dir.path("unsynced"), dir.path("u.log"), &out), 130) << out;

  const TensorMap one = load_checkpoint(dir.path("one/last.safetensors"));
  const TensorMap two = load_checkpoint(dir.path("two/last.safetensors"));
  const TensorMap unsynced = load_checkpoint(dir.path("unsynced/last.safetensors"));
  std::string where;
  const double synced_diff = max_abs_diff(one, two, "method.", &where);
  EXPECT_LE(synced_diff, 1e-5) << "at " << where;
  std::printf("2 ranks x 16 with synchronised batch norm vs 1 process x 32, 4 steps: max |difference| %.3g at %s\n",
              synced_diff, where.c_str());
  const double unsynced_diff = max_abs_diff(one, unsynced, "method.", &where);
  EXPECT_GT(unsynced_diff, 1e-2) << "at " << where;
  std::printf("without synchronised batch norm: %.3g at %s\n", unsynced_diff, where.c_str());
}

// An interrupted 2-rank run, resumed by 2 ranks, ends bit-identical to one never interrupted;
// resuming it with another rank count is refused (its batches would change).
TEST(MpiTraining, ResumedRunEqualsUninterruptedRun) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)";
  TempDir dir("xmkd_mpi");
  std::string out;
  const std::string two = small_run(8) + " --set train.distributed=mpi --set train.sync_batchnorm=true";
  ASSERT_EQ(run(kTwoRanks, two + " --out " + dir.path("straight"), dir.path("a.log"), &out), 0) << out;
  // Rank 0 alone wrote the run's files, one metrics line per epoch with the global batch's numbers.
  std::ifstream metrics(dir.path("straight/metrics.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    const nlohmann::json entry = nlohmann::json::parse(line);
    EXPECT_EQ(entry.at("ranks").get<int>(), 2);
    lines += 1;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_TRUE(fs::exists(dir.path("straight/eval.json")));
  // About 20 global batches of 16 per epoch: stopped in the first, resumed, then on through the second.
  EXPECT_EQ(run(kTwoRanks, two + " --out " + dir.path("resumed") + " --stop-after-steps 13", dir.path("b.log"), &out), 130) << out;
  EXPECT_NE(out.find("interrupted"), std::string::npos) << out;
  EXPECT_EQ(run("", "train --resume " + dir.path("resumed"), dir.path("c.log"), &out), 1) << out;
  EXPECT_NE(out.find("trained by 2 ranks and this job has 1"), std::string::npos) << out;
  ASSERT_EQ(run(kTwoRanks, "train --resume " + dir.path("resumed"), dir.path("d.log"), &out), 0) << out;

  const TensorMap a = load_checkpoint(dir.path("straight/last.safetensors"));
  const TensorMap b = load_checkpoint(dir.path("resumed/last.safetensors"));
  std::string where;
  EXPECT_EQ(max_abs_diff(a, b, "", &where), 0.0) << "at " << where;
}

// The processes whose command line starts with `program` and mentions `word` (read from /proc,
// so that the test needs no procps).
std::vector<pid_t> processes_of(const std::string& program, const std::string& word) {
  std::vector<pid_t> pids;
  std::error_code error;   // processes come and go while /proc is listed
  for (fs::directory_iterator it("/proc", error), end; !error && it != end; it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    const std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (text.rfind(program + '\0', 0) == 0 && text.find(word) != std::string::npos)
      pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

// Whether pid is a live process (not gone, not a zombie waiting for a parent to reap it).
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

// A rank that dies (here: SIGKILL, as from the out-of-memory killer) ends the whole job with a
// message naming it, and the checkpoint of the last finished epoch survives (rank 0 writes it
// atomically) and resumes.
TEST(MpiTraining, KilledRankEndsTheJobAndTheCheckpointSurvives) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)";
  TempDir dir("xmkd_mpi");
  const std::string run_dir = dir.path("killed");
  const std::string log = dir.path("job.log");
  const std::string command = std::string(kEnv) + " " + kTwoRanks + " '" + XMKD_BINARY + "' " + small_run(8) +
                              " --set train.distributed=mpi --set train.epochs=50 --out " + run_dir + " > '" + log + "' 2>&1";
  const pid_t shell = fork();
  ASSERT_GE(shell, 0);
  if (shell == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(run_dir + "/last.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(run_dir + "/last.safetensors")) << "the first epoch never finished";
  // The ranks are the xmkd processes with the run directory in their command line (mpirun too
  // has it; it is not an xmkd process).
  std::vector<pid_t> ranks;
  for (pid_t pid : processes_of(XMKD_BINARY, run_dir))
    if (running(pid)) ranks.push_back(pid);
  ASSERT_EQ(ranks.size(), 2u);
  ASSERT_EQ(kill(ranks.back(), SIGKILL), 0);
  int status = 0;
  bool ended = false;
  for (int waited = 0; waited < 600 && !ended; ++waited) {
    ended = waitpid(shell, &status, WNOHANG) == shell;
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ended) {
    for (pid_t pid : ranks) kill(pid, SIGKILL);
    waitpid(shell, &status, 0);
  }
  ASSERT_TRUE(ended) << "the other rank did not end within 60 s";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("signal 9"), std::string::npos) << text;
  for (pid_t pid : ranks) EXPECT_FALSE(running(pid)) << "rank process " << pid << " still runs";

  std::map<std::string, std::string> metadata;
  load_checkpoint(run_dir + "/last.safetensors", &metadata);
  const nlohmann::json progress = nlohmann::json::parse(metadata.at("xmkd.progress"));
  EXPECT_GE(progress.at("epochs_done").get<int>(), 1);
  std::string out;
  EXPECT_EQ(run(kTwoRanks, "train --resume " + run_dir + " --stop-after-steps 2", dir.path("resume.log"), &out), 130) << out;
}

}  // namespace
}  // namespace xmkd
