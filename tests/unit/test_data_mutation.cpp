// Robustness: valid PNG, JPEG, BMP, npy, safetensors, idx, manifest and list files, each mutated a few
// hundred times with seeded random edits (bit flips, truncations, insertions, deletions, repeated
// ranges, header fields overwritten with edge values, numbers in text headers replaced). Every
// parse must either succeed or throw xmkd::Error: never crash, hang, or throw anything else.
// Mutation i of a format is drawn from its own generator (seed, i), so a failure names a case
// that can be replayed alone. Run under AddressSanitizer/UBSan too (docs/data.md).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <typeinfo>

#include "data/datasets.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "tests/unit/data_test_files.h"

namespace xmkd {
namespace {

using testing::TempDir;

class Mutator {
 public:
  Mutator(uint64_t seed, uint64_t index) : gen_(seed * 0x100000001B3ULL + index) {}

  // One to three stacked edits of `in`; `header_end` bounds the bytes that hold the format's
  // header (where edits reach the parser's decisions rather than the payload).
  std::string mutate(std::string s, size_t header_end) {
    const int64_t edits = 1 + gen_.randint(3);
    for (int64_t e = 0; e < edits; ++e) edit(s, std::min(header_end, s.size()));
    return s;
  }

 private:
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(gen_.randint(static_cast<int64_t>(n))); }
  char byte() { return static_cast<char>(gen_.randint(256)); }

  void edit(std::string& s, size_t header_end) {
    switch (gen_.randint(8)) {
      case 0:   // bit flips anywhere
        for (int64_t k = 1 + gen_.randint(4); k > 0 && !s.empty(); --k) s[below(s.size())] ^= static_cast<char>(1 << gen_.randint(8));
        break;
      case 1:   // bit flips in the header
        for (int64_t k = 1 + gen_.randint(3); k > 0 && header_end > 0; --k) s[below(header_end)] ^= static_cast<char>(1 << gen_.randint(8));
        break;
      case 2:   // truncation
        s.resize(below(s.size()));
        break;
      case 3: {   // insertion of random bytes
        std::string bytes;
        for (int64_t k = 1 + gen_.randint(16); k > 0; --k) bytes.push_back(byte());
        s.insert(below(s.size() + 1), bytes);
        break;
      }
      case 4: {   // deletion of a range
        const size_t at = below(s.size());
        s.erase(at, 1 + below(16));
        break;
      }
      case 5: {   // a range repeated in place (duplicated chunks, repeated keys)
        if (s.empty()) break;
        const size_t at = below(s.size()), len = 1 + below(std::min<size_t>(64, s.size() - at));
        s.insert(at, s.substr(at, len));
        break;
      }
      case 6: {   // a binary header field overwritten with an edge value
        if (header_end == 0) break;
        static const uint64_t kEdges[] = {0, 1, 0xff, 0x7f, 0x80, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
                                          0x7fffffffffffffffULL, 0xffffffffffffffffULL};
        const uint64_t v = gen_.randint(4) == 0 ? gen_.next_u64() : kEdges[below(std::size(kEdges))];
        const size_t width = size_t{1} << gen_.randint(4);   // 1, 2, 4 or 8 bytes
        const size_t at = below(header_end);
        for (size_t k = 0; k < width && at + k < s.size(); ++k)
          s[at + k] = static_cast<char>((gen_.randint(2) ? v >> (8 * k) : v >> (8 * (width - 1 - k))) & 0xff);
        break;
      }
      default: {   // a number in a text header replaced by an edge value
        static const char* const kNumbers[] = {"0", "1", "-1", "255", "256", "65535", "2147483648", "4294967296",
                                               "9223372036854775807", "9223372036854775808", "4611686018427387904",
                                               "2305843009213693952", "18446744073709551615", "99999999999999999999999",
                                               "1e308", "-0", "3.5", "", "null", "\"7\""};
        std::vector<std::pair<size_t, size_t>> runs;   // [begin, end) of digit runs in the header
        for (size_t i = 0; i < header_end;) {
          if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
            ++i;
            continue;
          }
          size_t j = i;
          while (j < header_end && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
          runs.emplace_back(i, j);
          i = j;
        }
        if (runs.empty()) break;
        const auto [b, e] = runs[below(runs.size())];
        s.replace(b, e - b, kNumbers[below(std::size(kNumbers))]);
        break;
      }
    }
  }

  Generator gen_;
};

struct Outcome {
  int64_t parsed = 0, rejected = 0;
  double slowest_ms = 0.0;
};

// XMKD_MUTATION_SCALE=k runs k times as many mutations (a longer campaign, e.g. under ASan).
int mutation_scale() {
  const char* text = std::getenv("XMKD_MUTATION_SCALE");
  const int scale = text ? std::atoi(text) : 1;
  return scale >= 1 ? scale : 1;
}

// Writes `count` mutations of `original` to `target` in turn and runs `parse` on each.
Outcome run_mutations(const std::string& name, const std::string& original, size_t header_end, const std::string& target,
                      int count, uint64_t seed, const std::function<void()>& parse) {
  count *= mutation_scale();
  testing::write_bytes(target, original);
  EXPECT_NO_THROW(parse()) << name << ": the unmutated file must parse";
  Outcome out;
  for (int i = 0; i < count; ++i) {
    testing::write_bytes(target, Mutator(seed, static_cast<uint64_t>(i)).mutate(original, header_end));
    const auto start = std::chrono::steady_clock::now();
    try {
      parse();
      ++out.parsed;
    } catch (const Error&) {
      ++out.rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << " mutation " << i << " (seed " << seed << "): " << typeid(e).name() << ": " << e.what();
    } catch (...) {
      ADD_FAILURE() << name << " mutation " << i << " (seed " << seed << "): a non-std exception";
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    out.slowest_ms = std::max(out.slowest_ms, ms);
  }
  testing::write_bytes(target, original);
  std::cout << "  " << name << ": " << count << " mutations, " << out.parsed << " parsed, " << out.rejected
            << " rejected with xmkd::Error, slowest " << out.slowest_ms << " ms\n";
  // Both outcomes occur: the mutations reach the error paths, and not only the first check.
  EXPECT_GT(out.rejected, 0) << name;
  EXPECT_GT(out.parsed, 0) << name;
  return out;
}

// Decodes every sample, so that get()'s checks run too.
void read_all(const data::Dataset& ds) {
  for (int64_t i = 0; i < ds.size(); ++i) ds.get(i);
  ds.labels();
  ds.describe();
}

TEST(DataMutation, Images) {
  TempDir dir("mut_img");
  const std::string target = dir.file("m.img");
  auto parse = [&] {
    data::read_image_header(target);
    data::read_image(target);
    data::read_image(target, 3);
  };
  const std::string png8 = dir.file("a.png"), png16 = dir.file("b.png");
  data::write_png8(png8, testing::patterned_image(12, 16, 3, 8));
  data::write_png16(png16, testing::patterned_image(12, 16, 4, 16));
  // 33 bytes: the signature and the IHDR chunk.
  run_mutations("PNG 8-bit RGB", testing::read_bytes(png8), 33, target, 1500, 11, parse);
  run_mutations("PNG 16-bit RGBA", testing::read_bytes(png16), 33, target, 1500, 12, parse);

  // BMP: 24-bit, bottom-up rows padded to 4 bytes.
  auto le = [](uint32_t v, int bytes) {
    std::string out;
    for (int k = 0; k < bytes; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
    return out;
  };
  const uint32_t row = (5 * 3 + 3) / 4 * 4, pixels = row * 4;
  std::string bmp = "BM" + le(54 + pixels, 4) + le(0, 4) + le(54, 4) + le(40, 4) + le(5, 4) + le(4, 4) + le(1, 2) +
                    le(24, 2) + le(0, 4) + le(pixels, 4) + le(2835, 4) + le(2835, 4) + le(0, 4) + le(0, 4);
  for (uint32_t i = 0; i < pixels; ++i) bmp.push_back(static_cast<char>(i * 11));
  run_mutations("BMP 24-bit", bmp, 54, target, 500, 16, parse);
  // 8-bit with a 16-colour palette (palette handling is where BMP decoders go wrong).
  const uint32_t row8 = 8, pixels8 = row8 * 4, palette = 16 * 4;
  std::string bmp8 = "BM" + le(54 + palette + pixels8, 4) + le(0, 4) + le(54 + palette, 4) + le(40, 4) + le(5, 4) +
                     le(4, 4) + le(1, 2) + le(8, 2) + le(0, 4) + le(pixels8, 4) + le(2835, 4) + le(2835, 4) + le(16, 4) +
                     le(0, 4);
  for (uint32_t i = 0; i < palette; ++i) bmp8.push_back(static_cast<char>(i * 4));
  for (uint32_t i = 0; i < pixels8; ++i) bmp8.push_back(static_cast<char>(i % 16));
  run_mutations("BMP 8-bit palette", bmp8, 54 + palette, target, 500, 17, parse);

  const std::string jpeg = testing::read_bytes(std::string(XMKD_FIXTURE_DIR) + "/data_sample_16x16.jpg");
  ASSERT_GT(jpeg.size(), 600u);
  run_mutations("JPEG", jpeg, std::min<size_t>(jpeg.size(), 600), target, 1000, 13, parse);
}

TEST(DataMutation, NpyAndSafetensors) {
  TempDir dir("mut_tensors");
  const std::string npy = dir.file("a.npy"), npy_target = dir.file("m.npy");
  io::save_npy(npy, Tensor::from_vector<float>(std::vector<float>(24, 0.5f), {2, 3, 4}));
  const std::string npy_bytes = testing::read_bytes(npy);
  const size_t npy_header = 10 + (static_cast<unsigned char>(npy_bytes[8]) | static_cast<unsigned char>(npy_bytes[9]) << 8);
  run_mutations("npy float32", npy_bytes, npy_header, npy_target, 1500, 21, [&] { io::load_npy(npy_target); });

  const std::string st = dir.file("a.safetensors"), st_target = dir.file("m.safetensors");
  io::save_safetensors(st, {{"weight", Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                            {"steps", Tensor::from_vector<int64_t>({7, 8, 9, 10}, {4})}},
                       {{"format", "pt"}});
  const std::string st_bytes = testing::read_bytes(st);
  uint64_t st_header = 0;
  std::memcpy(&st_header, st_bytes.data(), 8);
  run_mutations("safetensors", st_bytes, 8 + st_header, st_target, 1500, 22, [&] {
    std::map<std::string, std::string> metadata;
    io::load_safetensors(st_target, &metadata);
  });
}

// Header edits the random ones may miss: sizes whose byte count wraps around 2^64 to the size of
// the data present (here 0 bytes) must not yield a tensor that claims 2^62 elements.
TEST(DataMutation, SizesThatWrapAroundAreRejected) {
  TempDir dir("mut_wrap");
  const std::string npy = dir.file("wrap.npy");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  testing::write_bytes(npy, std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header);
  testing::expect_error_with([&] { io::load_npy(npy); }, {npy, "2^60"});

  const std::string st = dir.file("wrap.safetensors");
  std::string json = R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})";
  while (json.size() % 8 != 0) json += ' ';
  std::string len(8, '\0');
  len[0] = static_cast<char>(json.size());
  testing::write_bytes(st, len + json);
  testing::expect_error_with([&] { io::load_safetensors(st); }, {st, "tensor 'w'", "2^60"});
}

TEST(DataMutation, Manifests) {
  TempDir dir("mut_manifest");
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i);
    testing::write_png(dir.file("rgb/" + n + ".png"), testing::patterned_image(4, 4, 3, 8, 1 + i));
    testing::write_png(dir.file("depth/" + n + ".png"), testing::patterned_image(4, 4, 1, 16, 3 + i));
    data::Image labels = testing::flat_image(4, 4, 1, static_cast<uint16_t>(i));
    labels.pixels[3] = 255;
    testing::write_png(dir.file("labels/" + n + ".png"), labels);
  }
  const std::string json_target = dir.file("m.json"), csv_target = dir.file("m.csv");
  auto parse_json = [&] { read_all(*data::open_manifest(json_target)); };
  auto parse_csv = [&] { read_all(*data::open_manifest(csv_target)); };
  const std::string classification = R"({"task": "classification", "num_classes": 3,
 "modalities": [{"name": "rgb", "channels": 3, "scale": 0.0039}, {"name": "depth", "channels": 1, "scale": 0.001}],
 "samples": [{"rgb": "rgb/0.png", "depth": "depth/0.png", "label": 2},
             {"rgb": "rgb/1.png", "depth": "depth/1.png", "label": 0}]})";
  const std::string segmentation = R"({"task": "segmentation", "num_classes": 2,
 "modalities": [{"name": "rgb"}, {"name": "depth"}],
 "samples": [{"rgb": "rgb/0.png", "depth": "depth/0.png", "label_map": "labels/0.png"},
             {"rgb": "rgb/1.png", "depth": "depth/1.png", "label_map": "labels/1.png"}]})";
  run_mutations("manifest JSON classification", classification, classification.size(), json_target, 800, 31, parse_json);
  run_mutations("manifest JSON segmentation", segmentation, segmentation.size(), json_target, 800, 32, parse_json);
  const std::string csv = "rgb,depth,label\nrgb/0.png,depth/0.png,2\n\"rgb/1.png\",depth/1.png,0\n";
  run_mutations("manifest CSV", csv, csv.size(), csv_target, 400, 33, parse_csv);
  const std::string csv_seg = "rgb,label_map\nrgb/0.png,labels/0.png\nrgb/1.png,labels/1.png\n";
  run_mutations("manifest CSV segmentation", csv_seg, csv_seg.size(), csv_target, 300, 34, parse_csv);
}

TEST(DataMutation, ListsIdxAndNpyLayout) {
  TempDir dir("mut_lists");
  // SUN RGB-D list.
  testing::write_png(dir.file("kv2/a/1.png"), testing::flat_image(3, 6, 3, 40));
  testing::write_png(dir.file("kv2/b/2.png"), testing::flat_image(3, 6, 1, 900, 16));
  const std::string sun = dir.file("sun.txt");
  run_mutations("SUN RGB-D list", "kv2/a/1.png 3\nkv2/b/2.png 0\n", 64, sun, 300, 41,
                [&] { read_all(*data::open_sunrgbd_list(sun)); });

  // idx, raw and gzipped.
  std::string images = std::string("\0\0\x08\x03\0\0\0\x03\0\0\0\x04\0\0\0\x04", 16);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<char>(i * 5));
  const std::string labels = std::string("\0\0\x08\x01\0\0\0\x03", 8) + std::string("\x01\x09\x00", 3);
  const std::string idx_dir = dir.str() + "/idx";
  std::filesystem::create_directories(idx_dir);
  const std::string images_path = idx_dir + "/t10k-images-idx3-ubyte", labels_path = idx_dir + "/t10k-labels-idx1-ubyte";
  testing::write_bytes(labels_path, labels);
  auto parse_idx = [&] { read_all(*data::open_fashion_mnist(idx_dir, "test")); };
  run_mutations("idx3 images", images, 16, images_path, 500, 42, parse_idx);
  testing::write_bytes(images_path, images);
  run_mutations("idx1 labels", labels, 8, labels_path, 300, 43, parse_idx);
  std::remove(images_path.c_str());
  {
    gzFile f = gzopen((images_path + ".gz").c_str(), "wb");
    gzwrite(f, images.data(), static_cast<unsigned>(images.size()));
    gzclose(f);
  }
  run_mutations("idx3 images gzipped", testing::read_bytes(images_path + ".gz"), 10, images_path + ".gz", 500, 44, parse_idx);

  // The DisCoM-KD npy layout: the split index file is mutated.
  const std::string npy_dir = dir.str() + "/npy";
  std::filesystem::create_directories(npy_dir);
  io::save_npy(npy_dir + "/RGB_data_normalized.npy", Tensor::zeros({4, 2, 3, 3}));
  io::save_npy(npy_dir + "/labels.npy", Tensor::from_vector<int64_t>({0, 1, 1, 2}, {4}));
  io::save_npy(npy_dir + "/train_idx.npy", Tensor::from_vector<int64_t>({3, 0, 2}, {3}));
  const std::string idx_bytes = testing::read_bytes(npy_dir + "/train_idx.npy");
  run_mutations("DisCoM-KD split indices", idx_bytes, 64, npy_dir + "/train_idx.npy", 500, 45,
                [&] { read_all(*data::open_discom_npy(npy_dir, {"RGB"}, "train")); });
}

}  // namespace
}  // namespace xmkd
