// Every kernel declared in kernels/defs/*.def runs in at least one case of the op-case table
// (tests/support/op_cases.h), so the gradient check and the CPU-vs-CUDA comparison reach it; and
// every kernel a case names exists. A new kernel without a case fails here, naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/op_cases.h"

namespace xmkd::testing {
namespace {

std::set<std::string> declared_kernels() {
  std::set<std::string> names;
  const std::regex declaration(R"(^XMKD_KERNEL\(([a-z0-9_]+),)");
  for (const auto& entry : std::filesystem::directory_iterator(std::string(XMKD_SOURCE_DIR) + "/kernels/defs")) {
    if (entry.path().extension() != ".def") continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, declaration)) names.insert(m[1]);
    }
  }
  return names;
}

TEST(OpCoverage, EveryKernelHasACaseAndEveryCaseNamesRealKernels) {
  const std::set<std::string> declared = declared_kernels();
  ASSERT_GT(declared.size(), 50u) << "kernels/defs/*.def not found under " << XMKD_SOURCE_DIR;
  std::set<std::string> covered;
  for (const OpCase& c : op_cases()) {
    for (const std::string& k : c.kernels) {
      EXPECT_TRUE(declared.count(k)) << c.name << " names kernel '" << k << "', which kernels/defs does not declare";
      covered.insert(k);
    }
  }
  std::string missing;
  for (const std::string& k : declared)
    if (!covered.count(k)) missing += " " + k;
  EXPECT_TRUE(missing.empty()) << "kernels with no case in tests/support/op_cases.cpp:" << missing;
}

}  // namespace
}  // namespace xmkd::testing
