// safetensors reading and writing: round trips, a file from the Python writer the fixtures use,
// conversions of the float types xmkd reads but does not write, and malformed files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine/io/safetensors.h"

namespace xmkd {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "xmkd_st_" + name; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// 8-byte little-endian length (by default the header's own), the JSON header, the data.
std::string safetensors_bytes(const std::string& header, const std::string& data, uint64_t declared_len = UINT64_MAX) {
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

void expect_same_tensor(const Tensor& got, const Tensor& expected, const std::string& key) {
  ASSERT_TRUE(got.defined()) << key;
  EXPECT_EQ(got.shape(), expected.shape()) << key;
  ASSERT_EQ(got.dtype(), expected.dtype()) << key;
  ASSERT_EQ(got.nbytes(), expected.nbytes()) << key;
  EXPECT_EQ(std::memcmp(got.raw_data(), expected.raw_data(), expected.nbytes()), 0) << key;
}

// Loading `bytes` fails with a message holding the file's path and every one of `parts`.
void expect_load_error(const std::string& name, const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = temp_path(name);
  write_bytes(path, bytes);
  try {
    io::load_safetensors(path);
    ADD_FAILURE() << name << ": load_safetensors accepted a malformed file";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
  }
  std::remove(path.c_str());
}

TEST(Safetensors, RoundTripsF32I32I64WithScalarsEmptyTensorsAndMetadata) {
  TensorMap tensors;
  tensors["layer1.0.conv1.weight"] = Tensor::from_vector<float>({1.5f, -0.0f, 3e-38f, -1e30f, 0.1f, 7.0f}, {1, 2, 3, 1});
  tensors["labels"] = Tensor::from_vector<int32_t>({-1, 0, 2147483647}, {3});
  tensors["bn1.num_batches_tracked"] = Tensor::from_vector<int64_t>({(int64_t(1) << 50) + 1}, {});
  tensors["scale"] = Tensor::scalar(0.25f);
  tensors["empty"] = Tensor::zeros({0, 5});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "12"}};
  const std::string path = temp_path("roundtrip.safetensors");
  io::save_safetensors(path, tensors, metadata);

  // The data section starts 8-byte aligned, as the safetensors library requires.
  const std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + header_len) % 8, 0u);

  std::map<std::string, std::string> meta_back;
  const TensorMap back = io::load_safetensors(path, &meta_back);
  std::remove(path.c_str());
  EXPECT_EQ(back.size(), tensors.size());
  for (auto& [key, t] : tensors) expect_same_tensor(back.count(key) ? back.at(key) : Tensor(), t, key);
  EXPECT_EQ(meta_back, metadata);
}

// Written by save_safetensors in tools/torch_fixtures/_common.py (tools/torch_fixtures/optim.py).
TEST(Safetensors, ReadsTheFixtureWritersFiles) {
  std::map<std::string, std::string> meta;
  const TensorMap t = io::load_safetensors(std::string(XMKD_FIXTURE_DIR) + "/safetensors_sample.safetensors", &meta);
  ASSERT_EQ(t.size(), 4u);
  expect_same_tensor(t.at("f32"), Tensor::from_vector<float>({-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f}, {2, 3}), "f32");
  expect_same_tensor(t.at("i32"), Tensor::from_vector<int32_t>({-2, 0, 7, 2147483647}, {4}), "i32");
  expect_same_tensor(t.at("i64"), Tensor::from_vector<int64_t>({(int64_t(1) << 40) + 3}, {}), "i64");
  expect_same_tensor(t.at("empty"), Tensor::zeros({0, 3}), "empty");
  EXPECT_EQ(meta.at("writer"), "tools/torch_fixtures/_common.py");
}

TEST(Safetensors, ConvertsF64F16AndBf16ToFloat32) {
  // 1.5 and -2 in each format; F16 0x3e00 = 1.5, 0xc000 = -2; BF16 0x3fc0 = 1.5, 0xc000 = -2.
  const std::string data = raw<double>({1.5, -2.0}) + raw<uint16_t>({0x3e00, 0xc000}) + raw<uint16_t>({0x3fc0, 0xc000});
  const std::string header =
      R"({"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]}})";
  const std::string path = temp_path("convert.safetensors");
  write_bytes(path, safetensors_bytes(header, data));
  const TensorMap t = io::load_safetensors(path);
  std::remove(path.c_str());
  for (const char* key : {"d", "h", "b"}) {
    ASSERT_EQ(t.at(key).dtype(), DType::Float32) << key;
    EXPECT_EQ(t.at(key).to_vector<float>(), (std::vector<float>{1.5f, -2.0f})) << key;
  }
}

TEST(SafetensorsErrors, MalformedFilesNameTheFile) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const std::string data = raw<float>({1, 2, 3, 4});

  expect_load_error("tiny.safetensors", "abc", {"shorter than the 8-byte header length"});
  expect_load_error("truncated.safetensors", safetensors_bytes(header, data.substr(0, 10)),
                    {"'w'", "needs 16 bytes", "data section of 10 bytes"});
  expect_load_error("long_header.safetensors", safetensors_bytes(header, data, 1000),
                    {"header length 1000", "does not fit"});
  expect_load_error("bad_json.safetensors", safetensors_bytes(R"({"w": {"dtype": "F32",)", data),
                    {"JSON header does not parse"});
  expect_load_error("not_object.safetensors", safetensors_bytes("[1, 2]", data), {"must be an object"});
  expect_load_error("offsets.safetensors",
                    safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})", data),
                    {"'w'", "[8, 24]"});
  expect_load_error("offsets_size.safetensors",
                    safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", data),
                    {"'w'", "needs 16 bytes", "[0, 12]"});
  expect_load_error("dtype.safetensors",
                    safetensors_bytes(R"({"w":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", data),
                    {"'w'", "dtype C64", "F32"});
  expect_load_error("fields.safetensors", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4]}})", data),
                    {"'w'", "data_offsets"});
  expect_load_error("shape.safetensors",
                    safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}})", data),
                    {"'w'", "bad shape entry"});
}

TEST(SafetensorsErrors, MissingFileAndUndefinedTensorAreNamed) {
  try {
    io::load_safetensors("/nonexistent/dir/model.safetensors");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.safetensors"), std::string::npos) << e.what();
  }
  TensorMap bad;
  bad["fc.weight"] = Tensor();
  try {
    io::save_safetensors(temp_path("undefined.safetensors"), bad);
    ADD_FAILURE() << "an undefined tensor was written";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xmkd
