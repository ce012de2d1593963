// `xmkd report`: runs grouped by label and output, mean ± sample std over the group, x100.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/errors.h"
#include "tests/support/run_cli.h"

namespace {

namespace fs = std::filesystem;

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("xmkd_report_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string write_run(const std::string& name, const std::string& config, const std::string& eval) {
    fs::path dir = root_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << config;
    std::ofstream(dir / "eval.json") << eval;
    return dir.string();
  }

  int report(const std::string& args, std::string* out) {
    return xmkd::testing::run_xmkd("report " + args, (root_ / "out.txt").string(), out);
  }

  fs::path root_;
};

TEST_F(ReportTest, GroupsByLabelAndAveragesSeeds) {
  const std::string student = R"({"method": {"name": "student", "modality": "rgb"}})";
  const std::string dkd = R"({"method": {"name": "kd", "distill": {"kind": "dkd", "lskd": true}}})";
  std::string a = write_run("s0", student, R"({"task": "classification", "outputs": {"rgb": {"weighted_f1": 0.50}}})");
  std::string b = write_run("s1", student, R"({"task": "classification", "outputs": {"rgb": {"weighted_f1": 0.60}}})");
  std::string c = write_run("k0", dkd, R"({"task": "classification", "outputs": {"depth": {"weighted_f1": 0.4}}})");
  std::string out;
  ASSERT_EQ(report("'" + a + "' '" + b + "' '" + c + "'", &out), 0) << out;
  // Columns student and dkd+lskd; row rgb: mean 55, sample std 7.07 over 2 runs; row depth: 40.
  EXPECT_TRUE(xmkd::testing::contains(out, "| weighted_f1 (x100, test) | student | dkd+lskd |")) << out;
  EXPECT_TRUE(xmkd::testing::contains(out, "| rgb | 55.00 ± 7.07 (n=2) |  |")) << out;
  EXPECT_TRUE(xmkd::testing::contains(out, "| depth |  | 40.00 |")) << out;
}

// The main job's table: the order of the arguments does not matter, and --baseline adds the gain.
TEST_F(ReportTest, FixedOrderAndTheGainOverABaseline) {
  const std::string student = R"({"method": {"name": "student"}})";
  std::string discom = write_run("d", R"({"method": {"name": "discom_kd"}})",
                                 R"({"outputs": {"depth": {"weighted_f1": 0.5961}, "rgb": {"weighted_f1": 0.7165}}})");
  std::string teacher = write_run("t", R"({"method": {"name": "teacher"}})", R"({"outputs": {"fused": {"weighted_f1": 0.9675}}})");
  std::string depth = write_run("sd", student, R"({"outputs": {"depth": {"weighted_f1": 0.5228}}})");
  std::string rgb = write_run("sr", student, R"({"outputs": {"rgb": {"weighted_f1": 0.6255}}})");
  std::string first, second;
  ASSERT_EQ(report("--baseline student '" + discom + "' '" + teacher + "' '" + depth + "' '" + rgb + "'", &first), 0) << first;
  ASSERT_EQ(report("--baseline student '" + rgb + "' '" + depth + "' '" + teacher + "' '" + discom + "'", &second), 0) << second;
  EXPECT_EQ(first, second);
  const std::string expected =
      "| weighted_f1 (x100, test) | student | teacher | discom_kd | discom_kd − student |\n"
      "|---|---|---|---|---|\n"
      "| rgb | 62.55 |  | 71.65 | +9.10 |\n"
      "| depth | 52.28 |  | 59.61 | +7.33 |\n"
      "| fused |  | 96.75 |  |  |\n";
  EXPECT_EQ(first, expected);
  EXPECT_EQ(report("--baseline nobody '" + rgb + "'", &first), 1);
  EXPECT_TRUE(xmkd::testing::contains(first, "'nobody' is not the label of any of the runs")) << first;
}

TEST_F(ReportTest, MissingResultsAndMetricsAreNamed) {
  std::string run = write_run("r", R"({"method": {"name": "teacher"}})", R"({"outputs": {"fused": {"miou": 0.3}}})");
  std::string out;
  EXPECT_EQ(report("'" + run + "' --metric weighted_f1", &out), 1);
  EXPECT_TRUE(xmkd::testing::contains(out, "output 'fused' has no metric 'weighted_f1'")) << out;
  fs::remove(fs::path(run) / "eval.json");
  EXPECT_EQ(report("'" + run + "'", &out), 1);
  EXPECT_TRUE(xmkd::testing::contains(out, "eval.json: cannot open")) << out;
}

}  // namespace
