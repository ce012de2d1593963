// The synthetic RGB-D benchmark: its class design (what each modality can separate), the measured
// evidence for it (appearance never reaches depth; twin shapes share a silhouette but not a depth
// relief), determinism, value ranges, sensor holes, class balance, threads, errors, and the files
// write_synthetic writes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "data/image_io.h"
#include "data/synthetic.h"
#include "data/synthetic_render.h"
#include "data/synthetic_scene.h"
#include "tests/support/errors.h"

namespace xmkd::data {
namespace {

namespace fs = std::filesystem;
namespace syn = synthetic;

SyntheticOptions options(Task task = Task::Classification, int64_t size = 32, int64_t count = 64, uint64_t seed = 3) {
  SyntheticOptions o;
  o.task = task;
  o.size = size;
  o.count = count;
  o.seed = seed;
  return o;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void expect_same_sample(const Sample& a, const Sample& b) {
  ASSERT_EQ(a.images.size(), b.images.size());
  for (size_t m = 0; m < a.images.size(); ++m) EXPECT_TRUE(same_bytes(a.images[m], b.images[m])) << "modality " << m;
  EXPECT_TRUE(same_bytes(a.label_maps[0], b.label_maps[0]));
  EXPECT_EQ(a.label, b.label);
}

// One rendering of a scene, with fixed noise seeds (so two scenes differ only by what changed).
struct Views {
  std::vector<float> rgb, depth;
  std::vector<int64_t> labels;
};
Views render(const syn::Scene& scene, int64_t size) {
  Views v;
  v.rgb.resize(3 * size * size);
  v.depth.resize(size * size);
  v.labels.resize(size * size);
  syn::render_scene(scene, size, 11, 12, v.rgb.data(), v.depth.data(), v.labels.data());
  return v;
}

TEST(SyntheticClasses, EachModalityConfusesSomePairsAndThePairConfusesNone) {
  std::set<std::string> names;
  for (int64_t a = 0; a < syn::kSceneClasses; ++a) {
    EXPECT_EQ(syn::class_of(syn::shape_of(a), syn::family_of(a)), a);
    names.insert(syn::class_name(a));
    int depth_twins = 0, rgb_twins = 0;
    for (int64_t b = 0; b < syn::kSceneClasses; ++b) {
      if (a == b) continue;
      EXPECT_TRUE(syn::depth_separates(a, b) || syn::rgb_separates(a, b)) << a << " vs " << b;
      EXPECT_EQ(syn::depth_separates(a, b), syn::depth_separates(b, a));
      EXPECT_EQ(syn::rgb_separates(a, b), syn::rgb_separates(b, a));
      depth_twins += !syn::depth_separates(a, b);
      rgb_twins += !syn::rgb_separates(a, b);
    }
    // Every class has exactly one class depth cannot tell from it (same shape, other colour family)
    // and one RGB cannot tell robustly (silhouette twin, same family).
    EXPECT_EQ(depth_twins, 1) << syn::class_name(a);
    EXPECT_EQ(rgb_twins, 1) << syn::class_name(a);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(syn::kSceneClasses));
  EXPECT_EQ(syn::class_name(0), "warm box");
  EXPECT_EQ(syn::pixel_class_name(syn::kFloorLabel), "floor");
  EXPECT_EQ(syn::pixel_class_name(syn::kWallLabel), "wall");
  EXPECT_EQ(syn::pixel_class_name(syn::pixel_label_of(7)), "cool cone");
}

// Appearance never reaches depth: the same scene with every object's colour family (and colours)
// changed gives a depth map identical to the byte, while the RGB image changes.
TEST(SyntheticOracle, ColourFamilyIsInvisibleInDepth) {
  for (int64_t i = 0; i < 40; ++i) {
    syn::Scene scene = syn::sample_scene(5, i, syn::scene_class_of(5, i));
    const Views before = render(scene, 48);
    for (syn::SceneObject& o : scene.objects) {
      o.family = o.family == syn::Family::Warm ? syn::Family::Cool : syn::Family::Warm;
      std::swap(o.material.base.r, o.material.base.b);
      std::swap(o.material.second.r, o.material.second.b);
    }
    const Views after = render(scene, 48);
    EXPECT_EQ(before.depth, after.depth) << "sample " << i;
    EXPECT_NE(before.rgb, after.rgb) << "sample " << i;
    int64_t relabelled = 0;
    for (size_t p = 0; p < before.labels.size(); ++p) {
      EXPECT_EQ(before.labels[p] >= 2, after.labels[p] >= 2);
      relabelled += before.labels[p] != after.labels[p];
    }
    EXPECT_GT(relabelled, 0);
  }
}

// Silhouette twins (box ~ cylinder, pyramid ~ cone) with the same apparent width: their masks
// overlap far more than non-twins' do, and inside the shared mask the swap changes depth by
// several noise levels while RGB (same solid texture, changed shading) changes by about one.
// The means printed here are quoted in docs/data.md.
TEST(SyntheticOracle, TwinShapesShareASilhouetteButNotADepthRelief) {
  const int64_t size = 64, scenes = 150;
  const std::pair<syn::Shape, syn::Shape> pairs[] = {{syn::Shape::Box, syn::Shape::Cylinder},
                                                     {syn::Shape::Pyramid, syn::Shape::Cone},
                                                     {syn::Shape::Box, syn::Shape::Pyramid},
                                                     {syn::Shape::Cylinder, syn::Shape::Cone}};
  double iou[4], depth_change[4], rgb_change[4];
  for (int k = 0; k < 4; ++k) {
    double iou_sum = 0, dz_sum = 0, drgb_sum = 0;
    for (int64_t i = 0; i < scenes; ++i) {
      syn::Scene scene = syn::sample_scene(9, i, syn::class_of(pairs[k].first, syn::Family::Warm));
      scene.objects.resize(1);
      const Views a = render(scene, size);
      scene.objects[0] = syn::with_shape(scene.objects[0], pairs[k].second);
      const Views b = render(scene, size);
      int64_t inter = 0, uni = 0, both = 0;
      double dz = 0, drgb = 0;
      for (int64_t p = 0; p < size * size; ++p) {
        const bool in_a = a.labels[p] >= 2, in_b = b.labels[p] >= 2;
        inter += in_a && in_b;
        uni += in_a || in_b;
        if (in_a && in_b && a.depth[p] > 0 && b.depth[p] > 0) {
          ++both;
          dz += std::fabs(a.depth[p] - b.depth[p]);
          for (int c = 0; c < 3; ++c) drgb += std::fabs(a.rgb[c * size * size + p] - b.rgb[c * size * size + p]) / 3;
        }
      }
      ASSERT_GT(both, 0);
      iou_sum += static_cast<double>(inter) / uni;
      dz_sum += dz / both;
      drgb_sum += drgb / both;
    }
    iou[k] = iou_sum / scenes, depth_change[k] = dz_sum / scenes, rgb_change[k] = drgb_sum / scenes;
    std::printf("  %s -> %s: silhouette IoU %.3f, inside it mean |d depth| %.4f m, mean |d rgb| %.4f\n",
                syn::shape_name(pairs[k].first), syn::shape_name(pairs[k].second), iou[k], depth_change[k],
                rgb_change[k]);
  }
  // The noise levels to compare with: the same scene under two noise draws.
  double dz_noise = 0, drgb_noise = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < 40; ++i) {
    syn::Scene scene = syn::sample_scene(9, i, 0);
    scene.objects.resize(1);
    Views a = render(scene, size), b;
    b.rgb.resize(a.rgb.size()), b.depth.resize(a.depth.size()), b.labels.resize(a.labels.size());
    syn::render_scene(scene, size, 21, 22, b.rgb.data(), b.depth.data(), b.labels.data());
    for (int64_t p = 0; p < size * size; ++p) {
      if (a.labels[p] < 2 || a.depth[p] <= 0 || b.depth[p] <= 0) continue;
      ++n;
      dz_noise += std::fabs(a.depth[p] - b.depth[p]);
      for (int c = 0; c < 3; ++c) drgb_noise += std::fabs(a.rgb[c * size * size + p] - b.rgb[c * size * size + p]) / 3;
    }
  }
  dz_noise /= n, drgb_noise /= n;
  std::printf("  noise alone (two draws): mean |d depth| %.4f m, mean |d rgb| %.4f\n", dz_noise, drgb_noise);

  for (int k = 0; k < 2; ++k) {
    EXPECT_GT(iou[k], 0.8) << "twins must share most of their silhouette";
    EXPECT_GT(iou[k], iou[k + 2] + 0.2) << "twins must look more alike than non-twins";
    EXPECT_GT(depth_change[k], 4 * dz_noise) << "depth must see the twins' different relief";
    EXPECT_LT(rgb_change[k], 2 * drgb_noise) << "RGB must see little of it";
  }
}

TEST(SyntheticDataset, SameSeedAndIndexGiveIdenticalBytes) {
  const auto a = synthetic_dataset(options()), b = synthetic_dataset(options());
  for (int64_t i : {0, 1, 17, 63}) expect_same_sample(a->get(i), b->get(i));
  // Another seed gives another dataset.
  const auto c = synthetic_dataset(options(Task::Classification, 32, 64, 4));
  EXPECT_FALSE(same_bytes(a->get(0).images[0], c->get(0).images[0]));
}

TEST(SyntheticDataset, DifferentIndicesGiveDifferentScenes) {
  const auto d = synthetic_dataset(options());
  for (int64_t i = 0; i < 10; ++i) {
    const Sample a = d->get(i), b = d->get(i + 1);
    const float *x = a.images[1].data<float>(), *y = b.images[1].data<float>();
    int64_t differ = 0;
    for (int64_t p = 0; p < 32 * 32; ++p) differ += std::fabs(x[p] - y[p]) > 0.05f;
    EXPECT_GT(differ, 32 * 32 / 4) << "depth maps of samples " << i << " and " << i + 1 << " are too alike";
  }
}

TEST(SyntheticDataset, ShapesValuesAndLabelMaps) {
  const auto d = synthetic_dataset(options(Task::Classification, 40, 80));
  ASSERT_EQ(d->modalities().size(), 2u);
  EXPECT_EQ(d->modalities()[0].name, "rgb");
  EXPECT_EQ(d->modalities()[0].channels, 3);
  EXPECT_EQ(d->modalities()[1].name, "depth");
  EXPECT_EQ(d->modalities()[1].channels, 1);
  EXPECT_EQ(d->num_classes(), syn::kSceneClasses);
  for (int64_t i = 0; i < d->size(); ++i) {
    const Sample s = d->get(i);
    ASSERT_EQ(s.images.size(), 2u);
    ASSERT_EQ(s.images[0].shape(), (Shape{3, 40, 40}));
    ASSERT_EQ(s.images[1].shape(), (Shape{1, 40, 40}));
    ASSERT_EQ(s.label_maps.size(), 2u);
    ASSERT_EQ(s.label_maps[0].shape(), (Shape{40, 40}));
    ASSERT_EQ(s.label_maps[0].dtype(), DType::Int64);
    EXPECT_TRUE(s.label_maps[0].same_as(s.label_maps[1]));
    ASSERT_GE(s.label, 0);
    ASSERT_LT(s.label, syn::kSceneClasses);
    for (float v : s.images[0].to_vector<float>()) {
      ASSERT_GE(v, 0.0f);
      ASSERT_LE(v, 1.0f);
      ASSERT_EQ(std::nearbyint(v * 255.0f) / 255.0f, v) << "RGB is quantised to 8-bit levels";
    }
    for (float v : s.images[1].to_vector<float>()) {
      if (v == 0) continue;   // a hole
      ASSERT_GE(v, 0.5f);
      ASSERT_LE(v, syn::kMaxRange);
      ASSERT_EQ(std::nearbyint(v * 1000.0f) * 0.001f, v) << "depth is quantised to millimetres";
    }
    std::set<int64_t> present;
    for (int64_t v : s.label_maps[0].to_vector<int64_t>()) {
      ASSERT_GE(v, 0);
      ASSERT_LT(v, syn::kPixelClasses);
      present.insert(v);
    }
    EXPECT_TRUE(present.count(syn::kFloorLabel)) << "sample " << i;
    EXPECT_TRUE(present.count(syn::kWallLabel)) << "sample " << i;
    EXPECT_TRUE(present.count(syn::pixel_label_of(s.label))) << "sample " << i << ": the main object is not visible";
  }
}

// The main object is the largest object in the image, so the scene class is well defined.
TEST(SyntheticDataset, MainObjectCoversTheMostPixels) {
  for (int64_t i = 0; i < 60; ++i) {
    const syn::Scene scene = syn::sample_scene(2, i, syn::scene_class_of(2, i));
    std::vector<int64_t> area(scene.objects.size());
    for (size_t k = 0; k < scene.objects.size(); ++k) {
      syn::Scene alone = scene;
      alone.objects = {scene.objects[k]};
      const Views v = render(alone, 48);
      for (int64_t l : v.labels) area[k] += l >= 2;
    }
    for (size_t k = 1; k < area.size(); ++k) EXPECT_GT(area[0], area[k]) << "scene " << i << ", object " << k;
  }
}

TEST(SyntheticDataset, DepthHolesArePlausible) {
  const auto d = synthetic_dataset(options(Task::Classification, 64, 60));
  double total = 0;
  for (int64_t i = 0; i < d->size(); ++i) {
    int64_t holes = 0;
    for (float v : d->get(i).images[1].to_vector<float>()) holes += v == 0;
    const double fraction = static_cast<double>(holes) / (64 * 64);
    EXPECT_LT(fraction, 0.15) << "sample " << i;
    total += fraction;
  }
  const double mean = total / d->size();
  EXPECT_GT(mean, 0.005);
  EXPECT_LT(mean, 0.08);
}

TEST(SyntheticDataset, ClassesAreBalancedAndLabelsMatchSamples) {
  const auto d = synthetic_dataset(options(Task::Classification, 16, 500));
  const std::vector<int64_t> labels = d->labels();
  ASSERT_EQ(labels.size(), 500u);
  std::vector<int64_t> counts(syn::kSceneClasses);
  for (int64_t l : labels) counts[l]++;
  // Every block of 8 consecutive samples holds each class once: 500 = 62 * 8 + 4.
  for (int64_t c = 0; c < syn::kSceneClasses; ++c) {
    EXPECT_GE(counts[c], 62) << syn::class_name(c);
    EXPECT_LE(counts[c], 63) << syn::class_name(c);
  }
  for (int64_t i : {0, 7, 8, 250, 499}) EXPECT_EQ(d->get(i).label, labels[i]);
  // ... but the order inside a block is random, not index % 8.
  int64_t in_order = 0;
  for (int64_t i = 0; i < 500; ++i) in_order += labels[i] == i % syn::kSceneClasses;
  EXPECT_LT(in_order, 150);
}

TEST(SyntheticDataset, SegmentationHasPixelClassesAndNoSceneLabel) {
  const auto d = synthetic_dataset(options(Task::Segmentation));
  EXPECT_EQ(d->task(), Task::Segmentation);
  EXPECT_EQ(d->num_classes(), syn::kPixelClasses);
  EXPECT_TRUE(d->labels().empty());
  const Sample s = d->get(5);
  EXPECT_EQ(s.label, -1);
  // The same scenes as the classification dataset of the same seed.
  const Sample c = synthetic_dataset(options())->get(5);
  EXPECT_TRUE(same_bytes(s.images[0], c.images[0]));
  EXPECT_TRUE(same_bytes(s.label_maps[0], c.label_maps[0]));
  EXPECT_NE(d->describe().find("segmentation"), std::string::npos);
}

TEST(SyntheticDataset, ConcurrentReadsMatchSerialReads) {
  const auto d = synthetic_dataset(options(Task::Segmentation, 24, 32));
  std::vector<Sample> serial;
  for (int64_t i = 0; i < d->size(); ++i) serial.push_back(d->get(i));
  std::vector<Sample> parallel(d->size());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int64_t i = t; i < d->size(); i += 4) parallel[i] = d->get(i);
    });
  for (auto& t : threads) t.join();
  for (int64_t i = 0; i < d->size(); ++i) expect_same_sample(serial[i], parallel[i]);
}

TEST(SyntheticDataset, BadOptionsAndIndicesAreErrors) {
  testing::expect_error_naming([] { synthetic_dataset(options(Task::Classification, 4)); }, "synthetic", "size");
  testing::expect_error_naming([] { synthetic_dataset(options(Task::Classification, 32, 0)); }, "synthetic", "count");
  const auto d = synthetic_dataset(options());
  testing::expect_error_naming([&] { d->get(64); }, "synthetic", "64");
  testing::expect_error_naming([&] { d->get(-1); }, "synthetic", "-1");
}

class SyntheticFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "xmkd_synthetic_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  nlohmann::json manifest() const {
    std::ifstream in(dir_ / "manifest.json");
    return nlohmann::json::parse(in);
  }
  fs::path dir_;
};

TEST_F(SyntheticFiles, WritesPngsThatReadBackToTheSamples) {
  const SyntheticOptions o = options(Task::Segmentation, 24, 5);
  write_synthetic(o, dir_.string());
  const nlohmann::json m = manifest();
  EXPECT_EQ(m["task"], "segmentation");
  EXPECT_EQ(m["num_classes"], syn::kPixelClasses);
  ASSERT_EQ(m["modalities"].size(), 2u);
  EXPECT_EQ(m["modalities"][0]["name"], "rgb");
  EXPECT_EQ(m["modalities"][0]["channels"], 3);
  EXPECT_DOUBLE_EQ(m["modalities"][0]["scale"].get<double>(), 1.0 / 255.0);
  EXPECT_EQ(m["modalities"][1]["name"], "depth");
  EXPECT_EQ(m["modalities"][1]["channels"], 1);
  EXPECT_DOUBLE_EQ(m["modalities"][1]["scale"].get<double>(), 0.001);
  ASSERT_EQ(m["samples"].size(), 5u);
  EXPECT_FALSE(fs::exists(dir_ / "manifest.json.tmp"));

  const auto d = synthetic_dataset(o);
  for (int64_t i = 0; i < 5; ++i) {
    const nlohmann::json& entry = m["samples"][i];
    EXPECT_FALSE(entry.contains("label"));
    const Sample s = d->get(i);
    const Image rgb = read_image((dir_ / entry["rgb"].get<std::string>()).string());
    const Image depth = read_image((dir_ / entry["depth"].get<std::string>()).string());
    const Image labels = read_image((dir_ / entry["label_map"].get<std::string>()).string());
    ASSERT_EQ(rgb.channels, 3);
    ASSERT_EQ(rgb.bit_depth, 8);
    ASSERT_EQ(depth.channels, 1);
    ASSERT_EQ(depth.bit_depth, 16);
    ASSERT_EQ(labels.channels, 1);
    ASSERT_EQ(labels.bit_depth, 8);
    ASSERT_EQ(rgb.height, 24);
    ASSERT_EQ(rgb.width, 24);
    const float* x = s.images[0].data<float>();
    const float* z = s.images[1].data<float>();
    const int64_t* l = s.label_maps[0].data<int64_t>();
    for (int64_t p = 0; p < 24 * 24; ++p) {
      for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb.pixels[p * 3 + c] / 255.0f, x[c * 24 * 24 + p]);
      ASSERT_EQ(depth.pixels[p] * 0.001f, z[p]);
      ASSERT_EQ(labels.pixels[p], l[p]);
    }
  }
}

TEST_F(SyntheticFiles, ClassificationManifestListsLabelsNotLabelMaps) {
  const SyntheticOptions o = options(Task::Classification, 16, 9);
  write_synthetic(o, dir_.string());
  const nlohmann::json m = manifest();
  EXPECT_EQ(m["task"], "classification");
  EXPECT_EQ(m["num_classes"], syn::kSceneClasses);
  const std::vector<int64_t> labels = synthetic_dataset(o)->labels();
  for (int64_t i = 0; i < 9; ++i) {
    EXPECT_EQ(m["samples"][i]["label"].get<int64_t>(), labels[i]);
    EXPECT_FALSE(m["samples"][i].contains("label_map"));
    EXPECT_TRUE(fs::exists(dir_ / "labels" / m["samples"][i]["rgb"].get<std::string>().substr(4)));
  }
  EXPECT_EQ(m["samples"][8]["rgb"], "rgb/000008.png");
}

TEST_F(SyntheticFiles, UnwritableDirectoryIsAnError) {
  std::ofstream(dir_ / "file") << "x";
  testing::expect_error_naming([&] { write_synthetic(options(), (dir_ / "file" / "sub").string()); },
                               "write_synthetic", "file");
}

}  // namespace
}  // namespace xmkd::data
