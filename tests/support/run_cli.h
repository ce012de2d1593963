// Runs the built `xmkd` program (XMKD_BINARY) the way a user does, and other programs, for the e2e tests.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace xmkd::testing {

// A shell command with stdout and stderr captured through `capture_file` into *out; the exit
// status (-1 when the program did not exit normally, e.g. it crashed).
inline int run_command(const std::string& command_line, const std::string& capture_file, std::string* out) {
  const std::string command = command_line + " > '" + capture_file + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(capture_file);
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `xmkd <args>` through run_command.
inline int run_xmkd(const std::string& args, const std::string& capture_file, std::string* out) {
  return run_command(std::string("'") + XMKD_BINARY + "' " + args, capture_file, out);
}

}  // namespace xmkd::testing
