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

// "a, b, c": the items in order, each as str_cat writes it, or as name(item) gives it.
template <class Range, class Name>
std::string join_list(const Range& items, const Name& name, const char* separator = ", ") {
  std::string text;
  bool first = true;
  for (const auto& item : items) {
    text += (first ? "" : separator) + str_cat(name(item));
    first = false;
  }
  return text;
}
template <class Range>
std::string join_list(const Range& items) {
  return join_list(items, [](const auto& item) -> const auto& { return item; });
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
