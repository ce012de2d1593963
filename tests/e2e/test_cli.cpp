// The program as a new user meets it: every config file a --help example names exists, --version
// names the commit, exit statuses follow the conventions (--help documents them), and a folder
// that is not a run is called that.
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

TEST(Cli, VersionExitStatusesAndWhatIsNotARun) {
  testing::TempDir dir("xmkd_cli");
  std::string out;
  EXPECT_EQ(testing::run_xmkd("--version", dir.path("out.txt"), &out), 0) << out;
  EXPECT_EQ(out.rfind("xmkd 0.", 0), 0u) << out;
  EXPECT_TRUE(out.find("(commit ") != std::string::npos) << out;
  EXPECT_EQ(testing::run_xmkd("--help", dir.path("out.txt"), &out), 0) << out;
  EXPECT_TRUE(out.find("2 for a usage error") != std::string::npos && out.find("130") != std::string::npos) << out;
  EXPECT_EQ(testing::run_xmkd("train --no-such-option", dir.path("out.txt"), &out), 2) << out;
  EXPECT_EQ(testing::run_xmkd("", dir.path("out.txt"), &out), 2) << out;
  EXPECT_EQ(testing::run_xmkd("info", dir.path("out.txt"), &out), 0) << out;
  EXPECT_EQ(out.find("OpenBLAS"), out.rfind("OpenBLAS")) << "OpenBLAS named twice: " << out;

  const std::string empty = dir.path("not-a-run");
  fs::create_directories(empty);
  for (const std::string command : {"train --resume", "report", "eval --run", "export --modality rgb --run"}) {
    EXPECT_EQ(testing::run_xmkd(command + " '" + empty + "'", dir.path("out.txt"), &out), 1) << command << ": " << out;
    EXPECT_TRUE(out.find(empty + " is not an xmkd run directory (no config.json") != std::string::npos)
        << command << ": " << out;
  }
}

}  // namespace
}  // namespace xmkd
