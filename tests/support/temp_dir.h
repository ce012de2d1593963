// A fresh directory under the system's temporary folder for a test's files, removed with
// everything in it when the object goes.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "engine/error.h"

namespace xmkd::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "xmkd") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    XMKD_CHECK(mkdtemp(pattern.data()) != nullptr, "cannot create a temporary directory ", pattern);
    root_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::string path(const std::string& name) const { return (root_ / name).string(); }

 private:
  std::filesystem::path root_;
};

}  // namespace xmkd::testing
