// What `xmkd ... --help` shows a new user is true: every config file an example names exists.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "tests/support/temp_dir.h"
#include "tests/support/run_cli.h"

namespace xmkd {
namespace {

namespace fs = std::filesystem;

TEST(CliHelp, EveryConfigAnExampleNamesExists) {
  testing::TempDir dir("xmkd_help");
  std::set<std::string> named;
  for (const char* command : {"", "train", "eval", "export", "predict", "report", "datagen", "bench", "parity", "info"}) {
    std::string out;
    ASSERT_EQ(testing::run_xmkd(std::string(command) + " --help", dir.path("out.txt"), &out), 0) << command << ": " << out;
    const std::regex config(R"(configs/[A-Za-z0-9_./-]+\.json)");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), config); it != std::sregex_iterator(); ++it)
      named.insert(it->str());
  }
  EXPECT_FALSE(named.empty()) << "no help text names a config: the examples are gone";
  const fs::path root = fs::path(XMKD_CONFIG_DIR).parent_path();
  for (const std::string& path : named) EXPECT_TRUE(fs::exists(root / path)) << path << " is named in --help but does not exist";
}

}  // namespace
}  // namespace xmkd
