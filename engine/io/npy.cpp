// .npy layout: "\x93NUMPY", major, minor, header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0),
// then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
// with spaces to a multiple of 64 bytes and ended by '\n', then the raw data in C order.
#include "engine/io/npy.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "engine/io/atomic_file.h"

namespace xmkd::io {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
const char* const kSupported = "'<f4', '<f8', '<i4', '<i8', '|u1', '|i1'";

// One value of the header dict: a string, a bool or a tuple of integers.
struct HeaderValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string text;
  bool flag = false;
  std::vector<int64_t> numbers;
};

// A parser for the small subset of Python literals numpy writes in a .npy header.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  std::map<std::string, HeaderValue> parse_dict() {
    std::map<std::string, HeaderValue> out;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = parse_string();
      expect(':');
      out[key] = parse_value();
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      error("',' or '}' after the value of '" + key + "'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) error("the end of the header after '}'");
    return out;
  }

 private:
  [[noreturn]] void error(const std::string& expected) const {
    fail(path_, ": malformed .npy header: expected ", expected, " at character ", pos_, " of \"", s_, "\"");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) error(std::string("'") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("a quoted string");
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) error("a closing quote");
    std::string text = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return text;
  }
  int64_t parse_integer() {
    skip_space();
    const size_t start = pos_;
    int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      if (v > (INT64_MAX - 9) / 10) error("a dimension that fits in 64 bits");
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start) error("a non-negative integer");
    if (peek() == 'L') ++pos_;   // Python 2 long
    return v;
  }
  HeaderValue parse_value() {
    skip_space();
    HeaderValue v;
    if (peek() == '\'' || peek() == '"') {
      v.kind = HeaderValue::String;
      v.text = parse_string();
    } else if (s_.compare(pos_, 4, "True") == 0 || s_.compare(pos_, 5, "False") == 0) {
      v.kind = HeaderValue::Bool;
      v.flag = s_[pos_] == 'T';
      pos_ += v.flag ? 4 : 5;
    } else if (peek() == '(') {
      v.kind = HeaderValue::Tuple;
      ++pos_;
      while (true) {
        skip_space();
        if (peek() == ')') break;
        v.numbers.push_back(parse_integer());
        skip_space();
        if (peek() == ',') ++pos_;
        else if (peek() != ')') error("',' or ')' in the shape tuple");
      }
      ++pos_;
    } else {
      error("a string, True, False or a tuple");
    }
    return v;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

// How one stored element type becomes an xmkd dtype.
struct StoredType {
  DType dtype;
  size_t file_size;   // bytes per element in the file
};

StoredType parse_descr(const std::string& descr, const std::string& path) {
  // Single-byte types have no byte order ('|'); '=' is native order, which is little-endian here.
  if (descr == "|u1" || descr == "<u1" || descr == "=u1" || descr == "|i1" || descr == "<i1" || descr == "=i1")
    return {DType::Int32, 1};
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '=')) {
    const std::string t = descr.substr(1);
    if (t == "f4") return {DType::Float32, 4};
    if (t == "f8") return {DType::Float32, 8};
    if (t == "i4") return {DType::Int32, 4};
    if (t == "i8") return {DType::Int64, 8};
  }
  if (!descr.empty() && descr[0] == '>')
    fail(path, ": big-endian data (descr '", descr, "') is not supported; save it little-endian (",
         "numpy: a.astype(a.dtype.newbyteorder('<'))); supported descr: ", kSupported);
  fail(path, ": unsupported .npy element type (descr '", descr, "'); supported descr: ", kSupported);
}

template <class From, class To>
void convert(const char* src, To* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, src + i * sizeof(From), sizeof(From));
    dst[i] = static_cast<To>(v);
  }
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::Float32: return "<f4";
    case DType::Int32: return "<i4";
    case DType::Int64: return "<i8";
  }
  return "?";
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XMKD_CHECK(in, "cannot open .npy file '", path, "'");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);

  unsigned char preamble[12] = {};
  in.read(reinterpret_cast<char*>(preamble), std::min<uint64_t>(file_size, 12));
  XMKD_CHECK(file_size >= 10 && std::memcmp(preamble, kMagic, kMagicLen) == 0, path,
             ": not a .npy file (it does not start with \\x93NUMPY)");
  const int major = preamble[6], minor = preamble[7];
  XMKD_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy format version ", major, ".", minor,
             " (xmkd reads 1.0 to 3.0)");
  uint64_t header_len;
  size_t prefix;
  if (major == 1) {
    header_len = preamble[8] | (preamble[9] << 8);
    prefix = 10;
  } else {
    XMKD_CHECK(file_size >= 12, path, ": truncated .npy file (", file_size, " bytes, no header length)");
    header_len = preamble[8] | (preamble[9] << 8) | (preamble[10] << 16) | (static_cast<uint64_t>(preamble[11]) << 24);
    prefix = 12;
  }
  XMKD_CHECK(prefix + header_len <= file_size, path, ": truncated .npy file: the header needs ", header_len,
             " bytes after the first ", prefix, " but the file has ", file_size, " bytes in all");
  std::string header(header_len, '\0');
  in.seekg(static_cast<std::streamoff>(prefix));
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  // The padding spaces and the final '\n' carry nothing (and would clutter error messages).
  while (!header.empty() && std::isspace(static_cast<unsigned char>(header.back()))) header.pop_back();

  auto dict = HeaderParser(header, path).parse_dict();
  auto field = [&](const char* key, HeaderValue::Kind kind, const char* what) -> const HeaderValue& {
    auto it = dict.find(key);
    XMKD_CHECK(it != dict.end() && it->second.kind == kind, path, ": the .npy header needs '", key, "' (", what,
               "): \"", header, "\"");
    return it->second;
  };
  const std::string descr = field("descr", HeaderValue::String, "a string such as '<f4'").text;
  const bool fortran = field("fortran_order", HeaderValue::Bool, "True or False").flag;
  const std::vector<int64_t>& dims = field("shape", HeaderValue::Tuple, "a tuple of integers").numbers;
  XMKD_CHECK(!fortran, path, ": the array is stored in Fortran (column-major) order; xmkd reads C order only ",
             "(numpy: np.save(path, np.ascontiguousarray(a)))");
  const StoredType st = parse_descr(descr, path);

  const Shape shape(dims.begin(), dims.end());
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& e) {
    fail(path, ": bad .npy shape: ", e.what());
  }
  const uint64_t expected = static_cast<uint64_t>(numel) * st.file_size;
  const uint64_t actual = file_size - prefix - header_len;
  XMKD_CHECK(actual == expected, path, ": ", actual < expected ? "truncated" : "unexpected trailing bytes in",
             " .npy file: shape ", shape_str(shape), " of '", descr, "' needs ", expected,
             " bytes of data, the file has ", actual);

  Tensor t = Tensor::empty(shape, st.dtype);
  if (st.file_size == dtype_size(st.dtype)) {
    in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(expected));
  } else {
    std::string raw(expected, '\0');
    in.read(raw.data(), static_cast<std::streamsize>(expected));
    if (descr.substr(1) == "f8") convert<double>(raw.data(), t.data<float>(), numel);
    else if (descr.substr(1) == "u1") convert<uint8_t>(raw.data(), t.data<int32_t>(), numel);
    else convert<int8_t>(raw.data(), t.data<int32_t>(), numel);
  }
  XMKD_CHECK(in, path, ": read error in the .npy data");
  return t;
}

void save_npy(const std::string& path, const Tensor& tensor) {
  check_defined("save_npy", "tensor", tensor);
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
  if (tensor.shape().size() == 1) shape += ",";
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(tensor.dtype()) + "', 'fortran_order': False, 'shape': " +
                       shape + ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, and end with '\n'.
  const size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  XMKD_CHECK(header.size() <= 65535, "save_npy(", path, "): shape ", shape, " makes the header too long");

  const Tensor host = tensor.to(Device::CPU);
  AtomicFile file(path);
  const unsigned char version_and_len[4] = {1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                            static_cast<unsigned char>(header.size() >> 8)};
  file.write(kMagic, kMagicLen);
  file.write(version_and_len, 4);
  file.write(header.data(), header.size());
  file.write(host.raw_data(), host.nbytes());
  file.commit();
}

}  // namespace xmkd::io
