// What the distributed tests share: running `[launcher] xmkd ...` as a user does, with one
// OpenMP thread per process, and comparing the tensors of two checkpoints.
#pragma once
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/io/safetensors.h"

namespace xmkd::testing {

inline bool have_mpirun() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

// The environment every command gets: one thread, and OpenMPI's consent to run as root (CI).
// Shared-memory transfers by copy, not cross-memory attach, which containers often forbid.
inline const char* kEnv =
    "OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
    "OMPI_MCA_btl_vader_single_copy_mechanism=none";

inline std::string small_run(int batch) {
  return std::string("train --config '") + XMKD_CONFIG_DIR + "/synthetic/cls_student.json'" +
         " --set data.count=512 --set data.size=16 --set train.epochs=2 --set train.workers=0"
         " --set train.optimizer.name=sgd --set train.optimizer.lr=0.002 --set train.optimizer.momentum=0"
         " --set train.batch_size=" + std::to_string(batch);
}

// Runs `prefix xmkd args` through the shell, output captured; the exit status.
inline int run(const std::string& prefix, const std::string& args, const std::string& log, std::string* out) {
  const std::string command = std::string(kEnv) + " " + prefix + " '" + XMKD_BINARY + "' " + args + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
inline const std::string kTwoRanks = "mpirun -np 2";

// Every tensor of a checkpoint (method.* and optimizer.*), and its metadata when asked.
inline TensorMap load_checkpoint(const std::string& file, std::map<std::string, std::string>* metadata = nullptr) {
  return io::load_safetensors(file, metadata);
}

// The largest |a - b| over the float32 tensors whose key starts with prefix; *where names it.
inline double max_abs_diff(const TensorMap& a, const TensorMap& b, const std::string& prefix, std::string* where) {
  double worst = 0;
  for (const auto& [key, t] : a) {
    if (key.rfind(prefix, 0) != 0 || t.dtype() != DType::Float32) continue;
    const auto found = b.find(key);
    EXPECT_NE(found, b.end()) << key;
    if (found == b.end()) continue;
    const std::vector<float> x = t.to_vector<float>(), y = found->second.to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) {
      const double d = std::fabs(static_cast<double>(x[i]) - y[i]);
      if (d > worst) worst = d, *where = key;
    }
  }
  return worst;
}

}  // namespace xmkd::testing
