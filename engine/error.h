// Errors: every failure the engine detects is a thrown xmkd::Error whose message says what was
// wrong and, where it can, how to fix it (op, tensor, file, key; expected vs got).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace xmkd {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one message.
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace xmkd

// XMKD_CHECK(cond, message parts...): throws xmkd::Error with the message when cond is false.
#define XMKD_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::xmkd::fail(__VA_ARGS__);   \
  } while (0)
