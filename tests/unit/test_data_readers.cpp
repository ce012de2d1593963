// Every dataset reader over tiny files written to a temp dir: the happy path (values, units,
// labels, shapes) and each bad input, whose error must name the file (and the key, for manifests).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>

#include "data/datasets.h"
#include "engine/io/npy.h"
#include "tests/unit/data_test_files.h"

namespace xmkd {
namespace {

using data::Image;
using testing::expect_error_with;
using testing::TempDir;

// The value of a (C, H, W) float tensor at (c, y, x).
float at(const Tensor& t, int64_t c, int64_t y, int64_t x) {
  return t.data<float>()[(c * t.dim(1) + y) * t.dim(2) + x];
}
uint16_t px(const Image& image, int64_t y, int64_t x, int64_t c) {
  return image.pixels[static_cast<size_t>((y * image.width + x) * image.channels + c)];
}

// --- manifest ---------------------------------------------------------------------------------

// A classification manifest of three samples: 8-bit RGB + 16-bit depth (millimetres).
struct ClassificationManifest {
  explicit ClassificationManifest(const TempDir& dir, const std::string& modalities_json =
                                                          R"([{"name": "rgb", "channels": 3, "scale": 0.00392156886},
                                                              {"name": "depth", "channels": 1, "scale": 0.001}])") {
    for (int i = 0; i < 3; ++i) {
      rgb.push_back(testing::patterned_image(4, 6, 3, 8, 100 + i));
      depth.push_back(testing::patterned_image(4, 6, 1, 16, 200 + i));
      testing::write_png(dir.file("rgb/" + std::to_string(i) + ".png"), rgb.back());
      testing::write_png(dir.file("depth/" + std::to_string(i) + ".png"), depth.back());
    }
    path = dir.file("manifest.json");
    testing::write_bytes(path, R"({"task": "classification", "num_classes": 5, "modalities": )" + modalities_json +
                                   R"(, "samples": [
      {"rgb": "rgb/0.png", "depth": "depth/0.png", "label": 4},
      {"rgb": "rgb/1.png", "depth": "depth/1.png", "label": 0},
      {"rgb": "rgb/2.png", "depth": "depth/2.png", "label": 2}]})");
  }
  std::string path;
  std::vector<Image> rgb, depth;
};

TEST(DataManifest, JsonClassificationReadsValuesInDatasetUnits) {
  TempDir dir("man_cls");
  ClassificationManifest m(dir);
  auto ds = data::open_manifest(m.path);
  ASSERT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->task(), data::Task::Classification);
  EXPECT_EQ(ds->num_classes(), 5);
  ASSERT_EQ(ds->modalities().size(), 2u);
  EXPECT_EQ(ds->modalities()[0].name, "rgb");
  EXPECT_EQ(ds->modalities()[0].channels, 3);
  EXPECT_EQ(ds->modalities()[1].name, "depth");
  EXPECT_EQ(ds->modality_index("depth"), 1);
  expect_error_with([&] { ds->modality_index("sar"); }, {"sar", "rgb, depth"});
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{4, 0, 2}));
  EXPECT_NE(ds->describe().find(m.path), std::string::npos);

  const data::Sample s = ds->get(1);
  EXPECT_EQ(s.label, 0);
  EXPECT_TRUE(s.label_maps.empty());
  ASSERT_EQ(s.images.size(), 2u);
  EXPECT_EQ(s.images[0].shape(), (Shape{3, 4, 6}));
  EXPECT_EQ(s.images[1].shape(), (Shape{1, 4, 6}));
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 6; ++x) {
      for (int64_t c = 0; c < 3; ++c)
        EXPECT_FLOAT_EQ(at(s.images[0], c, y, x), px(m.rgb[1], y, x, c) * 0.00392156886f);
      EXPECT_FLOAT_EQ(at(s.images[1], 0, y, x), px(m.depth[1], y, x, 0) * 0.001f);
    }
  expect_error_with([&] { ds->get(3); }, {m.path, "index 3"});
}

TEST(DataManifest, DefaultScalesFollowBitDepthAndDepthIsMillimetres) {
  TempDir dir("man_defaults");
  ClassificationManifest m(dir, R"([{"name": "rgb"}, {"name": "depth"}])");
  auto ds = data::open_manifest(m.path);
  EXPECT_EQ(ds->modalities()[0].channels, 3);
  EXPECT_EQ(ds->modalities()[1].channels, 1);
  const data::Sample s = ds->get(2);
  EXPECT_FLOAT_EQ(at(s.images[0], 1, 2, 3), px(m.rgb[2], 2, 3, 1) / 255.0f);
  EXPECT_FLOAT_EQ(at(s.images[1], 0, 2, 3), px(m.depth[2], 2, 3, 0) * 0.001f);

  // Another 16-bit modality maps its full range to [0, 1].
  TempDir dir2("man_defaults2");
  ClassificationManifest m2(dir2, R"([{"name": "rgb"}, {"name": "thermal", "channels": 1}])");
  std::string text = testing::read_bytes(m2.path);
  for (size_t p; (p = text.find("\"depth\":")) != std::string::npos;) text.replace(p, 8, "\"thermal\":");
  testing::write_bytes(m2.path, text);
  const data::Sample s2 = data::open_manifest(m2.path)->get(0);
  EXPECT_FLOAT_EQ(at(s2.images[1], 0, 1, 1), px(m2.depth[0], 1, 1, 0) / 65535.0f);
}

TEST(DataManifest, RgbaFileServesAnRgbModality) {
  TempDir dir("man_rgba");
  const Image rgba = testing::patterned_image(3, 3, 4, 8);
  testing::write_png(dir.file("a.png"), rgba);
  const std::string path = dir.file("m.json");
  testing::write_bytes(path, R"({"task": "classification", "num_classes": 2, "modalities": [{"name": "rgb"}],
                                 "samples": [{"rgb": "a.png", "label": 1}]})");
  const data::Sample s = data::open_manifest(path)->get(0);
  ASSERT_EQ(s.images[0].shape(), (Shape{3, 3, 3}));
  EXPECT_FLOAT_EQ(at(s.images[0], 2, 1, 2), px(rgba, 1, 2, 2) / 255.0f);
}

TEST(DataManifest, JsonSegmentationReadsLabelMaps) {
  TempDir dir("man_seg");
  Image labels = testing::flat_image(3, 4, 1, 2);
  labels.pixels[5] = 255;
  labels.pixels[6] = 0;
  testing::write_png(dir.file("l.png"), labels);
  testing::write_png(dir.file("rgb.png"), testing::patterned_image(3, 4, 3, 8));
  testing::write_png(dir.file("d.png"), testing::patterned_image(3, 4, 1, 16));
  const std::string path = dir.file("seg.json");
  testing::write_bytes(path, R"({"task": "segmentation", "num_classes": 3,
      "modalities": [{"name": "rgb", "channels": 3}, {"name": "depth", "channels": 1}],
      "samples": [{"rgb": "rgb.png", "depth": "d.png", "label_map": "l.png"}]})");
  auto ds = data::open_manifest(path);
  EXPECT_EQ(ds->task(), data::Task::Segmentation);
  EXPECT_TRUE(ds->labels().empty());
  const data::Sample s = ds->get(0);
  EXPECT_EQ(s.label, -1);
  ASSERT_EQ(s.label_maps.size(), 2u);
  EXPECT_TRUE(s.label_maps[0].same_as(s.label_maps[1]));
  EXPECT_EQ(s.label_maps[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(s.label_maps[0].dtype(), DType::Int64);
  const std::vector<int64_t> v = s.label_maps[0].to_vector<int64_t>();
  EXPECT_EQ(v[0], 2);
  EXPECT_EQ(v[5], 255);
  EXPECT_EQ(v[6], 0);
}

TEST(DataManifest, CsvClassificationAndSegmentation) {
  TempDir dir("man_csv");
  const Image rgb0 = testing::patterned_image(2, 3, 3, 8, 1), rgb1 = testing::patterned_image(2, 3, 3, 8, 2);
  testing::write_png(dir.file("img/a b.png"), rgb0);
  testing::write_png(dir.file("img/c.png"), rgb1);
  testing::write_png(dir.file("img/d.png"), testing::patterned_image(2, 3, 1, 16));
  const std::string csv = dir.file("m.csv");
  testing::write_bytes(csv, "# samples\nrgb, depth ,label\r\n\"img/a b.png\",img/d.png,7\n\nimg/c.png,img/d.png, 3\n");
  auto ds = data::open_manifest(csv);
  EXPECT_EQ(ds->task(), data::Task::Classification);
  EXPECT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->num_classes(), 8);
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(ds->modalities()[1].name, "depth");
  EXPECT_FLOAT_EQ(at(ds->get(0).images[0], 0, 1, 2), px(rgb0, 1, 2, 0) / 255.0f);

  Image map = testing::flat_image(2, 3, 1, 255);
  map.pixels[1] = 4;
  testing::write_png(dir.file("img/l.png"), map);
  const std::string seg = dir.file("seg.csv");
  testing::write_bytes(seg, "rgb,label_map\nimg/c.png,img/l.png\n");
  auto sds = data::open_manifest(seg);
  EXPECT_EQ(sds->task(), data::Task::Segmentation);
  EXPECT_EQ(sds->num_classes(), 5);
  EXPECT_EQ(sds->get(0).label_maps[0].to_vector<int64_t>()[1], 4);
}

// Bad inputs: each error names the manifest and the image file or key at fault.
class DataManifestErrors : public ::testing::Test {
 protected:
  DataManifestErrors() : dir_("man_err"), m_(dir_) {}
  // The manifest with `from` replaced by `to` (once).
  void edit(const std::string& from, const std::string& to) {
    std::string text = testing::read_bytes(m_.path);
    const size_t p = text.find(from);
    ASSERT_NE(p, std::string::npos) << from;
    testing::write_bytes(m_.path, text.replace(p, from.size(), to));
  }
  void expect_open_error(const std::vector<std::string>& parts) {
    std::vector<std::string> all = parts;
    all.push_back(m_.path);
    expect_error_with([&] { data::open_manifest(m_.path); }, all);
  }
  TempDir dir_;
  ClassificationManifest m_;
};

TEST_F(DataManifestErrors, MissingImageFile) {
  const std::string missing = dir_.file("depth/1.png");
  std::filesystem::remove(missing);
  expect_open_error({missing, "sample 1", "depth", "cannot open"});
}

TEST_F(DataManifestErrors, TruncatedPng) {
  const std::string file = dir_.file("rgb/2.png");
  const std::string bytes = testing::read_bytes(file);
  testing::write_bytes(file, bytes.substr(0, 16));   // inside the header: found at open time
  expect_open_error({file, "sample 2"});
  testing::write_bytes(file, bytes.substr(0, bytes.size() - 20));   // inside the data: found by get()
  auto ds = data::open_manifest(m_.path);
  expect_error_with([&] { ds->get(2); }, {file, "cannot decode"});
}

TEST_F(DataManifestErrors, CorruptBytes) {
  const std::string file = dir_.file("rgb/0.png");
  testing::write_bytes(file, std::string(64, '\x17'));
  expect_open_error({file, "sample 0", "rgb"});
}

TEST_F(DataManifestErrors, WrongChannelCount) {
  const std::string file = dir_.file("rgb/1.png");
  testing::write_png(file, testing::patterned_image(4, 6, 1, 8));
  expect_open_error({file, "1 channel(s)", "expects 3"});
}

TEST_F(DataManifestErrors, ModalitiesOfDifferentSizes) {
  const std::string file = dir_.file("depth/2.png");
  testing::write_png(file, testing::patterned_image(4, 5, 1, 16));
  expect_open_error({file, "5x4", "6x4", "one size"});
}

TEST_F(DataManifestErrors, LabelOutOfRange) {
  edit("\"label\": 2", "\"label\": 5");
  expect_open_error({"samples[2].label", "[0, 4]"});
  edit("\"label\": 5", "\"label\": -1");
  expect_open_error({"samples[2].label"});
}

TEST_F(DataManifestErrors, BadJson) {
  edit("\"samples\": [", "\"samples\": [,");
  expect_open_error({"not valid JSON"});
}

TEST_F(DataManifestErrors, MissingKeys) {
  edit("\"num_classes\": 5,", "");
  expect_open_error({"missing key \"num_classes\""});
}

TEST_F(DataManifestErrors, MissingSampleKey) {
  edit("\"depth\": \"depth/1.png\", ", "");
  expect_open_error({"missing key \"samples[1].depth\""});
}

TEST_F(DataManifestErrors, MissingLabel) {
  edit(", \"label\": 0", "");
  expect_open_error({"missing key \"samples[1].label\""});
}

TEST_F(DataManifestErrors, WrongTypes) {
  edit("\"num_classes\": 5", "\"num_classes\": \"five\"");
  expect_open_error({"\"num_classes\"", "integer", "string"});
}

TEST_F(DataManifestErrors, ZeroClasses) {
  edit("\"num_classes\": 5", "\"num_classes\": 0");
  expect_open_error({"\"num_classes\"", "[1, "});
}

TEST_F(DataManifestErrors, ScaleOutsideFloatRange) {
  edit("\"scale\": 0.001", "\"scale\": 1e308");
  expect_open_error({"\"modalities[1].scale\""});
}

TEST_F(DataManifestErrors, WrongTypeInModality) {
  edit("\"channels\": 3", "\"channels\": 3.5");
  expect_open_error({"\"modalities[0].channels\"", "integer"});
}

TEST_F(DataManifestErrors, WrongTypeOfScale) {
  edit("\"scale\": 0.001", "\"scale\": -2");
  expect_open_error({"\"modalities[1].scale\"", "positive number"});
}

TEST_F(DataManifestErrors, WrongTypeOfPath) {
  edit("\"rgb\": \"rgb/0.png\"", "\"rgb\": 17");
  expect_open_error({"\"samples[0].rgb\"", "string"});
}

TEST_F(DataManifestErrors, WrongTask) {
  edit("\"classification\"", "\"detection\"");
  expect_open_error({"\"task\"", "detection"});
}

TEST_F(DataManifestErrors, UnknownSampleKey) {
  edit("\"rgb\": \"rgb/1.png\"", "\"rgb\": \"rgb/1.png\", \"rbg\": \"x.png\"");
  expect_open_error({"\"samples[1].rbg\""});
}

TEST_F(DataManifestErrors, NotAnObject) {
  testing::write_bytes(m_.path, "[1, 2, 3]");
  expect_open_error({"must be a JSON object"});
}

TEST(DataManifest, LabelMapErrors) {
  TempDir dir("man_lmerr");
  testing::write_png(dir.file("rgb.png"), testing::patterned_image(3, 4, 3, 8));
  Image labels = testing::flat_image(3, 4, 1, 1);
  labels.pixels[2 * 4 + 3] = 9;   // (x=3, y=2)
  const std::string lpath = dir.file("l.png");
  testing::write_png(lpath, labels);
  const std::string path = dir.file("seg.json");
  testing::write_bytes(path, R"({"task": "segmentation", "num_classes": 3, "modalities": [{"name": "rgb"}],
      "samples": [{"rgb": "rgb.png", "label_map": "l.png"}]})");
  auto ds = data::open_manifest(path);
  expect_error_with([&] { ds->get(0); }, {lpath, "x=3, y=2", "value 9", "[0, 3)"});

  testing::write_png(lpath, testing::flat_image(3, 4, 3, 1));
  expect_error_with([&] { data::open_manifest(path); }, {path, lpath, "8-bit grey"});
  testing::write_png(lpath, testing::flat_image(3, 5, 1, 1));
  expect_error_with([&] { data::open_manifest(path); }, {path, lpath, "5x3"});
  testing::write_bytes(path, R"({"task": "segmentation", "num_classes": 3, "modalities": [{"name": "rgb"}],
      "samples": [{"rgb": "rgb.png", "label": 1}]})");
  expect_error_with([&] { data::open_manifest(path); }, {path, "missing key \"samples[0].label_map\""});
  testing::write_bytes(path, R"({"task": "segmentation", "num_classes": 300, "modalities": [{"name": "rgb"}],
      "samples": [{"rgb": "rgb.png", "label_map": "l.png"}]})");
  expect_error_with([&] { data::open_manifest(path); }, {path, "\"num_classes\"", "255"});
}

TEST(DataManifest, CsvErrorsNameFileAndLine) {
  TempDir dir("man_csverr");
  testing::write_png(dir.file("a.png"), testing::patterned_image(2, 2, 3, 8));
  const std::string csv = dir.file("m.csv");
  testing::write_bytes(csv, "rgb,label\na.png,1,extra\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, "line 2", "3 fields"});
  testing::write_bytes(csv, "rgb,label\na.png,one\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, "line 2", "\"label\"", "one"});
  testing::write_bytes(csv, "rgb,depth\na.png,a.png\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, "\"label\""});
  testing::write_bytes(csv, "rgb,label\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, "no samples"});
  testing::write_bytes(csv, "rgb,label\n\"a.png,1\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, "line 2", "unterminated"});
  testing::write_bytes(csv, "rgb,label\nb.png,1\n");
  expect_error_with([&] { data::open_manifest(csv); }, {csv, dir.str() + "/b.png"});
  const std::string txt = dir.file("m.txt");
  testing::write_bytes(txt, "rgb,label\n");
  expect_error_with([&] { data::open_manifest(txt); }, {txt, ".json or .csv"});
  expect_error_with([&] { data::open_manifest(dir.str() + "/none.json"); }, {dir.str() + "/none.json", "cannot open"});
}

// --- NYU Depth v2 -----------------------------------------------------------------------------

TEST(DataNyuDepthV2, ReadsThePreparedLayout) {
  TempDir dir("nyu");
  const std::vector<std::string> ids = {"0001", "0002"};
  std::vector<Image> rgb, depth, labels;
  for (size_t i = 0; i < ids.size(); ++i) {
    rgb.push_back(testing::patterned_image(3, 5, 3, 8, 7 + static_cast<uint32_t>(i)));
    depth.push_back(testing::patterned_image(3, 5, 1, 16, 9 + static_cast<uint32_t>(i)));
    Image l = testing::flat_image(3, 5, 1, 1);
    l.pixels[0] = 0;    // void -> 255
    l.pixels[1] = 40;   // class 39
    l.pixels[2] = 13;   // class 12
    labels.push_back(l);
    testing::write_png(dir.file("train/rgb/" + ids[i] + ".png"), rgb[i]);
    testing::write_png(dir.file("train/depth/" + ids[i] + ".png"), depth[i]);
    testing::write_png(dir.file("train/labels_40/" + ids[i] + ".png"), labels[i]);
  }
  testing::write_bytes(dir.file("train.txt"), "0001\ntrain/rgb/0002.png\n\n");
  auto ds = data::open_nyudv2(dir.str(), "train", 40);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->task(), data::Task::Segmentation);
  EXPECT_EQ(ds->num_classes(), 40);
  EXPECT_EQ(ds->modality_index("depth"), 1);
  const data::Sample s = ds->get(1);
  EXPECT_EQ(s.images[0].shape(), (Shape{3, 3, 5}));
  EXPECT_EQ(s.images[1].shape(), (Shape{1, 3, 5}));
  EXPECT_FLOAT_EQ(at(s.images[0], 2, 1, 4), px(rgb[1], 1, 4, 2) / 255.0f);
  EXPECT_FLOAT_EQ(at(s.images[1], 0, 2, 3), px(depth[1], 2, 3, 0) * 0.001f);
  const std::vector<int64_t> v = s.label_maps[0].to_vector<int64_t>();
  EXPECT_EQ(v[0], 255);
  EXPECT_EQ(v[1], 39);
  EXPECT_EQ(v[2], 12);
  EXPECT_EQ(v[3], 0);

  // labels_13 holds values up to 13: a 40-class map is out of range there.
  for (const auto& id : ids) testing::write_png(dir.file("train/labels_13/" + id + ".png"), labels[0]);
  auto ds13 = data::open_nyudv2(dir.str(), "train", 13);
  const std::string l13 = dir.str() + "/train/labels_13/0001.png";
  expect_error_with([&] { ds13->get(0); }, {l13, "x=1, y=0", "value 40", "[0, 13)"});
}

TEST(DataNyuDepthV2, BadLayoutsNameTheFile) {
  TempDir dir("nyu_err");
  expect_error_with([&] { data::open_nyudv2(dir.str(), "train"); }, {dir.str() + "/train.txt"});
  testing::write_bytes(dir.file("train.txt"), "0001\n");
  const std::string rgb = dir.str() + "/train/rgb/0001.png";
  expect_error_with([&] { data::open_nyudv2(dir.str(), "train"); }, {rgb, "cannot open"});
  testing::write_png(dir.file("train/rgb/0001.png"), testing::patterned_image(3, 4, 3, 8));
  const std::string depth = dir.file("train/depth/0001.png");
  testing::write_png(depth, testing::patterned_image(3, 4, 1, 8));
  expect_error_with([&] { data::open_nyudv2(dir.str(), "train"); }, {depth, "16-bit"});
  testing::write_png(depth, testing::patterned_image(3, 3, 1, 16));
  expect_error_with([&] { data::open_nyudv2(dir.str(), "train"); }, {depth, "3x3", "4x3"});
  expect_error_with([&] { data::open_nyudv2(dir.str(), "val"); }, {dir.str(), "\"train\" or \"test\""});
  expect_error_with([&] { data::open_nyudv2(dir.str(), "train", 20); }, {dir.str(), "13 or 40"});
  testing::write_bytes(dir.file("test.txt"), "\n\n");
  expect_error_with([&] { data::open_nyudv2(dir.str(), "test"); }, {dir.str() + "/test.txt", "no samples"});
}

// --- SUN RGB-D --------------------------------------------------------------------------------

// A side-by-side image: RGB on the left, depth as equal R = G = B on the right.
Image side_by_side(const Image& rgb, const Image& depth) {
  Image out = testing::flat_image(rgb.height, 2 * rgb.width, 3, 0, rgb.bit_depth);
  for (int64_t y = 0; y < rgb.height; ++y)
    for (int64_t x = 0; x < rgb.width; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        out.pixels[static_cast<size_t>((y * out.width + x) * 3 + c)] = px(rgb, y, x, c);
        out.pixels[static_cast<size_t>((y * out.width + rgb.width + x) * 3 + c)] = px(depth, y, x, 0);
      }
  return out;
}

TEST(DataSunRgbd, ReadsSideBySide8And16Bit) {
  TempDir dir("sun");
  const Image rgb8 = testing::patterned_image(3, 4, 3, 8, 1), depth8 = testing::patterned_image(3, 4, 1, 8, 2);
  const Image rgb16 = testing::patterned_image(3, 4, 3, 16, 3), depth16 = testing::patterned_image(3, 4, 1, 16, 4);
  testing::write_png(dir.file("kv2/bedroom/1.png"), side_by_side(rgb8, depth8));
  testing::write_png(dir.file("kv2/office/2.png"), side_by_side(rgb16, depth16));
  const std::string list = dir.file("train.txt");
  testing::write_bytes(list, "kv2/bedroom/1.png 0\n" + dir.str() + "/kv2/office/2.png 6\n");
  auto ds = data::open_sunrgbd_list(list);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->task(), data::Task::Classification);
  EXPECT_EQ(ds->num_classes(), 7);
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{0, 6}));

  const data::Sample a = ds->get(0);
  EXPECT_EQ(a.label, 0);
  EXPECT_EQ(a.images[0].shape(), (Shape{3, 3, 4}));
  EXPECT_EQ(a.images[1].shape(), (Shape{1, 3, 4}));
  EXPECT_FLOAT_EQ(at(a.images[0], 1, 2, 3), px(rgb8, 2, 3, 1) / 255.0f);
  EXPECT_FLOAT_EQ(at(a.images[1], 0, 2, 3), px(depth8, 2, 3, 0) / 255.0f);
  const data::Sample b = ds->get(1);
  EXPECT_FLOAT_EQ(at(b.images[0], 2, 1, 0), px(rgb16, 1, 0, 2) / 65535.0f);
  EXPECT_FLOAT_EQ(at(b.images[1], 0, 1, 0), px(depth16, 1, 0, 0) * 0.001f);
}

TEST(DataSunRgbd, BadInputsNameTheFile) {
  TempDir dir("sun_err");
  const std::string list = dir.file("list.txt");
  const std::string img = dir.file("a.png");
  testing::write_bytes(list, "a.png 1\n");
  expect_error_with([&] { data::open_sunrgbd_list(list); }, {img, "cannot open"});
  testing::write_png(img, testing::patterned_image(2, 5, 3, 8));
  expect_error_with([&] { data::open_sunrgbd_list(list); }, {img, "even width"});
  Image colour = side_by_side(testing::patterned_image(2, 2, 3, 8), testing::flat_image(2, 2, 1, 9));
  colour.pixels[static_cast<size_t>((1 * 4 + 3) * 3 + 1)] = 10;   // (x=3, y=1): G differs
  testing::write_png(img, colour);
  auto ds = data::open_sunrgbd_list(list);
  expect_error_with([&] { ds->get(0); }, {img, "not grey", "x=3, y=1"});
  testing::write_bytes(list, "a.png\n");
  expect_error_with([&] { data::open_sunrgbd_list(list); }, {list, "line 1"});
  testing::write_bytes(list, "a.png -3\n");
  expect_error_with([&] { data::open_sunrgbd_list(list); }, {list, "line 1"});
  testing::write_bytes(list, "# nothing\n");
  expect_error_with([&] { data::open_sunrgbd_list(list); }, {list, "no samples"});
}

// --- DisCoM-KD npy ------------------------------------------------------------------------------

// An in-memory classification dataset with two modalities of different sizes.
class MemoryDataset : public data::Dataset {
 public:
  explicit MemoryDataset(int64_t n, bool list_labels = true) : list_labels_(list_labels) {
    for (int64_t i = 0; i < n; ++i) {
      data::Sample s;
      s.images.push_back(Tensor::from_vector(values(i, 2 * 3 * 4, 0.5f), {2, 3, 4}));
      s.images.push_back(Tensor::from_vector(values(i, 1 * 5 * 5, -1.0f), {1, 5, 5}));
      s.label = i % 3;
      samples_.push_back(s);
    }
  }
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  data::Sample get(int64_t i) const override { return samples_[static_cast<size_t>(i)]; }
  const std::vector<data::ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return 3; }
  data::Task task() const override { return data::Task::Classification; }
  std::string describe() const override { return "memory"; }
  std::vector<int64_t> labels() const override {
    std::vector<int64_t> out;
    if (list_labels_)
      for (auto& sample : samples_) out.push_back(sample.label);
    return out;
  }

 private:
  bool list_labels_;
  static std::vector<float> values(int64_t i, int64_t n, float offset) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) v[static_cast<size_t>(k)] = offset + 0.01f * static_cast<float>(i * 100 + k);
    return v;
  }
  std::vector<data::Sample> samples_;
  std::vector<data::ModalitySpec> specs_ = {{"optical", 2}, {"sar", 1}};
};

TEST(DataDiscomNpy, WriteThenReadEverySplit) {
  TempDir dir("discom");
  MemoryDataset mem(10);
  const std::vector<int64_t> train = {0, 1, 2, 3, 4, 5, 6}, valid = {7}, test = {9, 8};
  data::write_discom_npy(mem, dir.str(), {"OPT", "SAR"}, train, valid, test);
  EXPECT_TRUE(std::filesystem::exists(dir.str() + "/OPT_data_normalized.npy"));
  EXPECT_EQ(io::load_npy(dir.str() + "/labels.npy").dtype(), DType::Int64);

  const std::pair<std::string, std::vector<int64_t>> splits[] = {
      {"train", train}, {"valid", valid}, {"test", test}, {"all", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}};
  for (const auto& [split, rows] : splits) {
    auto ds = data::open_discom_npy(dir.str(), {"OPT", "SAR"}, split);
    ASSERT_EQ(ds->size(), static_cast<int64_t>(rows.size())) << split;
    EXPECT_EQ(ds->num_classes(), 3);
    EXPECT_EQ(ds->modalities()[0].name, "OPT");
    EXPECT_EQ(ds->modalities()[0].channels, 2);
    EXPECT_EQ(ds->modalities()[1].channels, 1);
    std::vector<int64_t> expected_labels;
    for (size_t k = 0; k < rows.size(); ++k) {
      const data::Sample got = ds->get(static_cast<int64_t>(k)), want = mem.get(rows[k]);
      EXPECT_EQ(got.label, want.label);
      expected_labels.push_back(want.label);
      for (int m = 0; m < 2; ++m) {
        ASSERT_EQ(got.images[m].shape(), want.images[m].shape());
        EXPECT_EQ(got.images[m].to_vector<float>(), want.images[m].to_vector<float>()) << split << " " << k;
      }
    }
    EXPECT_EQ(ds->labels(), expected_labels);
  }
  // Samples are copies: writing into one leaves the dataset unchanged.
  auto ds = data::open_discom_npy(dir.str(), {"OPT", "SAR"}, "all");
  ds->get(0).images[0].data<float>()[0] = 1234.0f;
  EXPECT_NE(ds->get(0).images[0].data<float>()[0], 1234.0f);
}

TEST(DataDiscomNpy, AcceptsInt32AndWholeFloatLabels) {
  TempDir dir("discom_labels");
  io::save_npy(dir.str() + "/X_data_normalized.npy", Tensor::zeros({3, 1, 2, 2}));
  io::save_npy(dir.str() + "/labels.npy", Tensor::from_vector<float>({2.0f, 0.0f, 1.0f}, {3}));
  io::save_npy(dir.str() + "/train_idx.npy", Tensor::from_vector<int32_t>({2, 0}, {2}));
  auto ds = data::open_discom_npy(dir.str(), {"X"}, "train");
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{1, 2}));
  io::save_npy(dir.str() + "/labels.npy", Tensor::from_vector<float>({2.0f, 0.5f, 1.0f}, {3}));
  expect_error_with([&] { data::open_discom_npy(dir.str(), {"X"}, "train"); }, {dir.str() + "/labels.npy", "integers"});
}

TEST(DataDiscomNpy, BadFilesNameTheFile) {
  TempDir dir("discom_err");
  MemoryDataset mem(6);
  data::write_discom_npy(mem, dir.str(), {"A", "B"}, {0, 1, 2, 3}, {4}, {5});
  const std::string a = dir.str() + "/A_data_normalized.npy", b = dir.str() + "/B_data_normalized.npy";
  const std::string labels = dir.str() + "/labels.npy", valid = dir.str() + "/valid_idx.npy";
  auto open = [&](const std::string& split) { return data::open_discom_npy(dir.str(), {"A", "B"}, split); };

  expect_error_with([&] { data::open_discom_npy(dir.str(), {"A", "C"}, "all"); }, {dir.str() + "/C_data_normalized.npy"});
  const std::string good_b = testing::read_bytes(b);
  testing::write_bytes(b, std::string("\x93NUMPY\x01\x00\x40\x00", 10) + "{'descr': '<f4'");
  expect_error_with([&] { open("all"); }, {b, "truncated"});
  testing::write_bytes(b, good_b.substr(0, good_b.size() - 4));
  expect_error_with([&] { open("all"); }, {b, "truncated"});
  io::save_npy(b, Tensor::zeros({5, 1, 5, 5}));
  expect_error_with([&] { open("all"); }, {b, "5 samples", a, "6"});
  io::save_npy(b, Tensor::zeros({6, 25}));
  expect_error_with([&] { open("all"); }, {b, "(N, C, H, W)"});
  io::save_npy(b, Tensor::zeros({6, 1, 5, 5}, DType::Int32));
  expect_error_with([&] { open("all"); }, {b, "float32"});
  io::save_npy(b, Tensor::zeros({6, 1, 5, 5}));

  io::save_npy(labels, Tensor::from_vector<int64_t>({0, 1, 2}, {3}));
  expect_error_with([&] { open("all"); }, {labels, "3 labels"});
  io::save_npy(labels, Tensor::from_vector<int64_t>({0, 1, 2, -1, 0, 1}, {6}));
  expect_error_with([&] { open("all"); }, {labels, "label 3 is -1"});
  io::save_npy(labels, Tensor::from_vector<int64_t>({0, 1, 2, 0, 0, 1}, {6}));

  io::save_npy(valid, Tensor::from_vector<int64_t>({4, 6}, {2}));
  expect_error_with([&] { open("valid"); }, {valid, "index 6", "[0, 6)"});
  io::save_npy(valid, Tensor::from_vector<int64_t>({}, {0}));
  expect_error_with([&] { open("valid"); }, {valid, "selects no samples"});
  std::filesystem::remove(valid);
  expect_error_with([&] { open("valid"); }, {valid, "cannot open"});
  expect_error_with([&] { open("validation"); }, {dir.str(), "\"valid\""});

  expect_error_with([&] { data::write_discom_npy(mem, dir.str(), {"A"}, {0}, {1}, {2}); }, {dir.str(), "1 prefixes"});
  expect_error_with([&] { data::write_discom_npy(mem, dir.str(), {"A", "B"}, {0}, {9}, {2}); }, {dir.str(), "valid index 9"});
}

// --- Dataset, Subset, tasks ----------------------------------------------------------------------

TEST(DataDataset, SubsetViewsSamplesInOrder) {
  auto base = std::make_shared<MemoryDataset>(6);
  const data::Subset sub(base, {5, 1, 1, 3});
  ASSERT_EQ(sub.size(), 4);
  EXPECT_EQ(sub.labels(), (std::vector<int64_t>{2, 1, 1, 0}));   // label = index mod 3
  EXPECT_EQ(sub.get(0).images[0].to_vector<float>(), base->get(5).images[0].to_vector<float>());
  EXPECT_EQ(sub.get(2).label, base->get(1).label);
  EXPECT_EQ(sub.num_classes(), 3);
  EXPECT_EQ(sub.modalities()[1].name, "sar");
  EXPECT_EQ(sub.modality_index("sar"), 1);
  EXPECT_EQ(sub.indices(), (std::vector<int64_t>{5, 1, 1, 3}));
  EXPECT_NE(sub.describe().find("memory"), std::string::npos);
  expect_error_with([&] { sub.get(4); }, {"Subset::get", "index 4"});
  expect_error_with([&] { data::Subset(base, {0, 6}); }, {"Subset", "index 6", "position 1"});
  // A subset of a subset composes the index maps; a dataset without a label list gives none.
  const data::Subset inner(std::make_shared<data::Subset>(sub), {3, 0});
  EXPECT_EQ(inner.labels(), (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(data::Subset(std::make_shared<MemoryDataset>(4, false), {1, 2}).labels().empty());
}

TEST(DataDataset, TaskNames) {
  EXPECT_EQ(data::parse_task("classification"), data::Task::Classification);
  EXPECT_EQ(data::parse_task("segmentation"), data::Task::Segmentation);
  EXPECT_STREQ(data::task_name(data::Task::Segmentation), "segmentation");
  EXPECT_STREQ(data::task_name(data::parse_task(data::task_name(data::Task::Classification))), "classification");
  expect_error_with([] { data::parse_task("detection"); }, {"detection", "classification", "segmentation"});
}

// --- Fashion-MNIST ----------------------------------------------------------------------------

std::string be32_bytes(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 8) & 0xff),
          static_cast<char>(v & 0xff)};
}
std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 2051) {
  std::string s = be32_bytes(magic) + be32_bytes(count) + be32_bytes(rows) + be32_bytes(cols);
  for (uint32_t i = 0; i < count * rows * cols; ++i) s.push_back(static_cast<char>((i * 37) & 0xff));
  return s;
}
std::string idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 2049) {
  std::string s = be32_bytes(magic) + be32_bytes(static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels) s.push_back(static_cast<char>(l));
  return s;
}
void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

TEST(DataFashionMnist, ReadsRawAndGzippedIdx) {
  TempDir dir("fmnist");
  testing::write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(3, 4, 5));
  testing::write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_labels({9, 0, 4}));
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(2, 28, 28));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels({1, 2}));

  auto test = data::open_fashion_mnist(dir.str(), "test");
  ASSERT_EQ(test->size(), 3);
  EXPECT_EQ(test->num_classes(), 10);
  EXPECT_EQ(test->labels(), (std::vector<int64_t>{9, 0, 4}));
  const data::Sample s = test->get(2);
  EXPECT_EQ(s.label, 4);
  ASSERT_EQ(s.images[0].shape(), (Shape{1, 4, 5}));
  // Pixel k of image i is byte 16 + i*20 + k of the file: ((i*20 + k) * 37) mod 256.
  EXPECT_FLOAT_EQ(at(s.images[0], 0, 1, 3), static_cast<float>(((2 * 20 + 8) * 37) & 0xff) / 255.0f);

  auto train = data::open_fashion_mnist(dir.str(), "train");
  ASSERT_EQ(train->size(), 2);
  EXPECT_EQ(train->get(1).images[0].shape(), (Shape{1, 28, 28}));
  EXPECT_FLOAT_EQ(at(train->get(1).images[0], 0, 0, 1), static_cast<float>(((784 + 1) * 37) & 0xff) / 255.0f);
}

TEST(DataFashionMnist, MalformedIdxNamesTheFile) {
  TempDir dir("fmnist_err");
  const std::string images = dir.file("t10k-images-idx3-ubyte"), labels = dir.file("t10k-labels-idx1-ubyte");
  auto open = [&] { data::open_fashion_mnist(dir.str(), "test"); };
  expect_error_with(open, {dir.str(), "t10k-images-idx3-ubyte.gz"});
  testing::write_bytes(labels, idx_labels({1, 2}));
  testing::write_bytes(images, idx_images(2, 3, 3, 2049));
  expect_error_with(open, {images, "magic number 2049", "2051"});
  testing::write_bytes(images, idx_images(2, 3, 3).substr(0, 30));
  expect_error_with(open, {images, "truncated"});
  testing::write_bytes(images, idx_images(2, 3, 3).substr(0, 10));
  expect_error_with(open, {images, "truncated idx header"});
  testing::write_bytes(images, idx_images(2, 3, 3) + "x");
  expect_error_with(open, {images, "trailing"});
  testing::write_bytes(images, idx_images(3, 3, 3));
  expect_error_with(open, {labels, "2 labels", "3 images"});
  testing::write_bytes(images, idx_images(2, 3, 3));
  testing::write_bytes(labels, idx_labels({1, 10}));
  expect_error_with(open, {labels, "label 1 is 10"});
  testing::write_bytes(labels, idx_labels({1, 2}, 2051));
  expect_error_with(open, {labels, "magic number 2051", "2049"});
  // A gzip stream cut short.
  std::filesystem::remove(images);
  write_gz(images + ".gz", idx_images(2, 3, 3));
  const std::string gz = testing::read_bytes(images + ".gz");
  testing::write_bytes(images + ".gz", gz.substr(0, gz.size() - 12));
  expect_error_with(open, {images + ".gz"});
  expect_error_with([&] { data::open_fashion_mnist(dir.str(), "valid"); }, {dir.str(), "\"train\" or \"test\""});
}

TEST(DataFashionMnist, DebianPackageData) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " not present (apt-get install dataset-fashion-mnist)";
  auto train = data::open_fashion_mnist(dir, "train");
  auto test = data::open_fashion_mnist(dir, "test");
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(train->num_classes(), 10);
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  std::vector<int64_t> train_count(10, 0), test_count(10, 0);
  for (int64_t l : train->labels()) ++train_count[static_cast<size_t>(l)];
  for (int64_t l : test->labels()) ++test_count[static_cast<size_t>(l)];
  EXPECT_EQ(train_count, std::vector<int64_t>(10, 6000));
  EXPECT_EQ(test_count, std::vector<int64_t>(10, 1000));
  const data::Sample s = train->get(59999);
  ASSERT_EQ(s.images[0].shape(), (Shape{1, 28, 28}));
  const std::vector<float> v = s.images[0].to_vector<float>();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0f);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 1.0f);
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 0.5f);   // a real image, not blank
}

}  // namespace
}  // namespace xmkd
