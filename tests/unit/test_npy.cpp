// .npy reading and writing: round trips, files written by numpy itself, and malformed files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fstream>

#include "engine/io/npy.h"

namespace xmkd {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "xmkd_npy_" + name; }

std::string fixture_path(const std::string& name) { return std::string(XMKD_FIXTURE_DIR) + "/" + name; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A version 1.0 file: magic, version, uint16 header length, the header, the data.
std::string npy_bytes(const std::string& header, const std::string& data, int major = 1) {
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  const size_t n = header.size();
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  if (major >= 2) {
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 24) & 0xff));
  }
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Loading `bytes` fails with a message holding the file's path and every one of `parts`.
void expect_load_error(const std::string& name, const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = temp_path(name);
  write_bytes(path, bytes);
  try {
    io::load_npy(path);
    ADD_FAILURE() << name << ": load_npy accepted a malformed file";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
  }
  std::remove(path.c_str());
}

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  const std::vector<Tensor> tensors = {
      Tensor::from_vector<float>({1.5f, -2.25f, 3e-38f, 7.0f, -0.0f, 1e30f}, {2, 3}),
      Tensor::from_vector<int32_t>({-7, 0, 2147483647}, {3}),
      Tensor::from_vector<int64_t>({-(int64_t(1) << 62), 42, 0, 5}, {1, 2, 2, 1}),
      Tensor::from_vector<float>({0.125f}, {}),
      Tensor::zeros({0, 4}),
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string path = temp_path("roundtrip_" + std::to_string(i) + ".npy");
    io::save_npy(path, t);
    const Tensor back = io::load_npy(path);
    std::remove(path.c_str());
    EXPECT_EQ(back.shape(), t.shape()) << t.str();
    ASSERT_EQ(back.dtype(), t.dtype()) << t.str();
    ASSERT_EQ(back.nbytes(), t.nbytes());
    EXPECT_EQ(std::memcmp(back.raw_data(), t.raw_data(), t.nbytes()), 0) << t.str();
  }
}

TEST(Npy, SavedHeaderIsNumpyVersion1With64ByteAlignedData) {
  const std::string path = temp_path("header.npy");
  io::save_npy(path, Tensor::zeros({3}, DType::Int64));
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + header_len + 3 * 8);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_EQ(header.rfind("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
}

TEST(Npy, SaveLeavesNoTemporaryFileBehind) {
  const std::string dir = ::testing::TempDir() + "xmkd_npy_atomic";
  ::mkdir(dir.c_str(), 0755);
  io::save_npy(dir + "/a.npy", Tensor::ones({2, 2}));
  io::save_npy(dir + "/a.npy", Tensor::zeros({5}));   // replaces the file whole
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    closedir(d);
  }
  EXPECT_EQ(names, std::vector<std::string>{"a.npy"});
  EXPECT_EQ(io::load_npy(dir + "/a.npy").shape(), (Shape{5}));
  std::remove((dir + "/a.npy").c_str());
  ::rmdir(dir.c_str());
}

// Files written by numpy's np.save (tools/torch_fixtures/optim.py).
TEST(Npy, ReadsFilesWrittenByNumpy) {
  const Tensor f = io::load_npy(fixture_path("npy_sample_f32.npy"));
  EXPECT_EQ(f.shape(), (Shape{3, 4}));
  std::vector<float> expected(12);
  for (int i = 0; i < 12; ++i) expected[i] = i / 8.0f - 0.5f;
  EXPECT_EQ(f.to_vector<float>(), expected);

  const Tensor i64 = io::load_npy(fixture_path("npy_sample_i64.npy"));
  EXPECT_EQ(i64.shape(), (Shape{2, 3}));
  EXPECT_EQ(i64.to_vector<int64_t>(),
            (std::vector<int64_t>{-1, 0, int64_t(1) << 40, 5, -(int64_t(1) << 62), 3}));

  const Tensor u8 = io::load_npy(fixture_path("npy_sample_u8.npy"));
  EXPECT_EQ(u8.dtype(), DType::Int32);
  EXPECT_EQ(u8.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 128, 255}));
}

TEST(Npy, ConvertsFloat64AndInt8AndReadsVersion2Headers) {
  const std::string f8 = temp_path("f8.npy");
  write_bytes(f8, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", raw<double>({0.1, -3.5})));
  const Tensor a = io::load_npy(f8);
  EXPECT_EQ(a.dtype(), DType::Float32);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0.1f, -3.5f}));

  const std::string i1 = temp_path("i1.npy");
  write_bytes(i1, npy_bytes("{\"descr\": \"|i1\", \"shape\": (3,), \"fortran_order\": False}\n",
                            raw<int8_t>({-128, 0, 127})));
  EXPECT_EQ(io::load_npy(i1).to_vector<int32_t>(), (std::vector<int32_t>{-128, 0, 127}));

  const std::string v2 = temp_path("v2.npy");
  write_bytes(v2, npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }\n", raw<int32_t>({4, -4}), 2));
  const Tensor c = io::load_npy(v2);
  EXPECT_EQ(c.shape(), (Shape{1, 2}));
  EXPECT_EQ(c.to_vector<int32_t>(), (std::vector<int32_t>{4, -4}));

  const std::string scalar = temp_path("scalar.npy");
  write_bytes(scalar, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", raw<float>({2.5f})));
  const Tensor d = io::load_npy(scalar);
  EXPECT_EQ(d.shape(), Shape{});
  EXPECT_EQ(d.item(), 2.5f);
  for (auto& p : {f8, i1, v2, scalar}) std::remove(p.c_str());
}

TEST(NpyErrors, MalformedFilesNameTheFileAndWhatWasExpected) {
  const std::string f4_2x3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  const std::string six_floats = raw<float>({1, 2, 3, 4, 5, 6});

  expect_load_error("not_npy.npy", "PK\x03\x04 this is a zip file", {"not a .npy file"});
  expect_load_error("version.npy", npy_bytes(f4_2x3, six_floats, 4), {"version 4.0"});
  expect_load_error("fortran.npy",
                    npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", six_floats),
                    {"Fortran", "C order"});
  expect_load_error("complex.npy",
                    npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", six_floats),
                    {"'<c8'", "'<f4', '<f8', '<i4', '<i8', '|u1', '|i1'"});
  expect_load_error("big_endian.npy",
                    npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", six_floats),
                    {"big-endian", "'>f4'"});
  expect_load_error("truncated.npy", npy_bytes(f4_2x3, six_floats.substr(0, 20)),
                    {"truncated", "needs 24 bytes", "has 20"});
  expect_load_error("trailing.npy", npy_bytes(f4_2x3, six_floats + "xxxx"), {"trailing", "needs 24 bytes", "has 28"});
  expect_load_error("no_shape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, }\n", six_floats),
                    {"'shape'"});
  expect_load_error("bad_dict.npy",
                    npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }\n", six_floats),
                    {"malformed .npy header", "',' or '}'"});
  expect_load_error("bad_shape.npy",
                    npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", six_floats),
                    {"malformed .npy header", "non-negative integer"});
  std::string short_header = npy_bytes(f4_2x3, "");
  short_header.resize(30);   // the header length promises more than the file holds
  expect_load_error("short_header.npy", short_header, {"truncated", "header"});
  expect_load_error("tiny.npy", "\x93NUM", {"not a .npy file"});
}

TEST(NpyErrors, MissingFileIsNamed) {
  try {
    io::load_npy("/nonexistent/dir/x.npy");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.npy"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::save_npy("/nonexistent/dir/x.npy", Tensor::ones({1})), Error);
}

}  // namespace
}  // namespace xmkd
