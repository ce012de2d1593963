// expect_error_naming(f, op, also): f must throw xmkd::Error whose message contains `op` (the
// op's name) and `also` (e.g. a shape or the expected value).
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "engine/error.h"

namespace xmkd::testing {

inline void expect_error_naming(const std::function<void()>& f, const std::string& op, const std::string& also = "") {
  try {
    f();
    ADD_FAILURE() << "expected an xmkd::Error naming '" << op << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(also), std::string::npos) << e.what();
  }
}

// Runs f and returns the message of the xmkd::Error it throws ("" and a test failure if none).
template <class F>
std::string error_message(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an xmkd::Error";
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace xmkd::testing
