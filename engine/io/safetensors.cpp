#include "engine/io/safetensors.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"

namespace xmkd::io {
namespace {

using nlohmann::json;

struct StoredType {
  DType dtype;        // what the tensor becomes in xmkd
  size_t file_size;   // bytes per element in the file
};

StoredType parse_stored_type(const std::string& name, const std::string& path, const std::string& key) {
  if (name == "F32") return {DType::Float32, 4};
  if (name == "F64") return {DType::Float32, 8};
  if (name == "F16") return {DType::Float32, 2};
  if (name == "BF16") return {DType::Float32, 2};
  if (name == "I32") return {DType::Int32, 4};
  if (name == "I64") return {DType::Int64, 8};
  fail(path, ": tensor '", key, "' has dtype ", name, "; xmkd reads F32, F64, F16, BF16, I32 and I64");
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

void convert_to_float(const std::string& type, const char* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (type == "F64") {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      dst[i] = static_cast<float>(d);
    } else if (type == "F16") {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = half_to_float(h);
    } else {   // BF16: the upper half of a float32
      uint16_t b;
      std::memcpy(&b, src + 2 * i, 2);
      uint32_t bits = static_cast<uint32_t>(b) << 16;
      std::memcpy(&dst[i], &bits, 4);
    }
  }
}

const char* stored_name(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Int32: return "I32";
    case DType::Int64: return "I64";
  }
  return "?";
}

}  // namespace

TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  XMKD_CHECK(in, "cannot open safetensors file '", path, "'");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  XMKD_CHECK(file_size >= 8, path, ": not a safetensors file (", file_size, " bytes, shorter than the 8-byte header length)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  XMKD_CHECK(header_len <= file_size - 8 && header_len < (100u << 20), path, ": header length ", header_len,
             " does not fit in a file of ", file_size, " bytes (not a safetensors file, or truncated)");
  std::string header_text(header_len, '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  json header;
  try {
    header = json::parse(header_text);
  } catch (const json::exception& e) {
    fail(path, ": the JSON header does not parse: ", e.what());
  }
  XMKD_CHECK(header.is_object(), path, ": the JSON header must be an object");
  const uint64_t data_size = file_size - 8 - header_len;

  TensorMap out;
  for (auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (metadata && entry.is_object())
        for (auto& [mk, mv] : entry.items())
          if (mv.is_string()) (*metadata)[mk] = mv.get<std::string>();
      continue;
    }
    XMKD_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                   entry.contains("data_offsets") && entry["dtype"].is_string() && entry["shape"].is_array() &&
                   entry["data_offsets"].is_array() && entry["data_offsets"].size() == 2,
               path, ": tensor '", key, "' needs \"dtype\" (string), \"shape\" (array) and \"data_offsets\" ([begin, end])");
    const std::string type = entry["dtype"].get<std::string>();
    StoredType st = parse_stored_type(type, path, key);
    Shape shape;
    for (auto& d : entry["shape"]) {
      XMKD_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, path, ": tensor '", key, "' has a bad shape entry ", d.dump());
      shape.push_back(d.get<int64_t>());
    }
    XMKD_CHECK(entry["data_offsets"][0].is_number_unsigned() && entry["data_offsets"][1].is_number_unsigned(), path,
               ": tensor '", key, "' has non-integer data_offsets");
    uint64_t begin = entry["data_offsets"][0].get<uint64_t>(), end = entry["data_offsets"][1].get<uint64_t>();
    int64_t numel = 0;
    try {
      numel = shape_numel(shape);
    } catch (const Error& e) {
      fail(path, ": tensor '", key, "': ", e.what());
    }
    const uint64_t expected = static_cast<uint64_t>(numel) * st.file_size;
    XMKD_CHECK(begin <= end && end <= data_size && end - begin == expected, path, ": tensor '", key, "' (", type, " ",
               shape_str(shape), ") needs ", expected, " bytes but data_offsets are [", begin, ", ", end,
               "] in a data section of ", data_size, " bytes (truncated or corrupt file)");
    Tensor t = Tensor::empty(shape, st.dtype);
    in.seekg(static_cast<std::streamoff>(8 + header_len + begin));
    if (st.file_size == dtype_size(st.dtype)) {
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(expected));
    } else {
      std::string raw(expected, '\0');
      in.read(raw.data(), static_cast<std::streamsize>(expected));
      convert_to_float(type, raw.data(), t.data<float>(), t.numel());
    }
    XMKD_CHECK(in, path, ": read error in tensor '", key, "'");
    out[key] = t;
  }
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (auto& [key, t] : tensors) {
    XMKD_CHECK(t.defined(), "save_safetensors(", path, "): tensor '", key, "' is undefined");
    header[key] = {{"dtype", stored_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');   // keep the data 8-byte aligned

  AtomicFile file(path);
  uint64_t n = text.size();
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  file.write(len_bytes, 8);
  file.write(text.data(), text.size());
  for (auto& [key, t] : tensors) {
    if (t.device() == Device::CPU) {
      file.write(t.raw_data(), t.nbytes());
    } else {
      Tensor host = t.to(Device::CPU);
      file.write(host.raw_data(), host.nbytes());
    }
  }
  file.commit();
}

}  // namespace xmkd::io
