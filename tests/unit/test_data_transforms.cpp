// Transforms: exact geometry on images whose pixels encode where they come from, label maps that
// follow their image (jointly or per modality), photometric ranges and formulas, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "data/transforms.h"
#include "tests/support/errors.h"
#include "tests/unit/data_test_dataset.h"

namespace xmkd {
namespace {

using data::Sample;
using testing::decode_pixel;
using testing::encode_pixel;

// Sample `index` of an encoded dataset: modalities of `channels`, H x W, and (optionally) one
// label map shared by every modality holding y·W + x.
Sample encoded_sample(int64_t index, std::vector<int64_t> channels, int64_t H, int64_t W, bool label_map) {
  testing::EncodedOptions o;
  o.height = H, o.width = W, o.label_maps = label_map, o.num_classes = H * W;
  o.modalities.clear();
  for (int64_t c : channels) o.modalities.push_back({"m" + std::to_string(o.modalities.size()), c});
  return testing::EncodedDataset(o).get(index);
}

float at(const Tensor& img, int64_t c, int64_t y, int64_t x) {
  return img.data<float>()[(c * img.dim(1) + y) * img.dim(2) + x];
}
int64_t label_at(const Tensor& lm, int64_t y, int64_t x) { return lm.data<int64_t>()[y * lm.dim(1) + x]; }

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

bool equal(const Sample& a, const Sample& b) {
  if (a.images.size() != b.images.size() || a.label_maps.size() != b.label_maps.size()) return false;
  for (size_t m = 0; m < a.images.size(); ++m)
    if (!equal(a.images[m], b.images[m])) return false;
  for (size_t m = 0; m < a.label_maps.size(); ++m)
    if (!equal(a.label_maps[m], b.label_maps[m])) return false;
  return true;
}

Sample deep_copy(const Sample& s) {
  Sample out = s;
  for (Tensor& t : out.images) t = t.clone();
  for (Tensor& t : out.label_maps) t = t.clone();
  return out;
}

// Reference quarter turn counter-clockwise of a square (C, N, N) image or (N, N) label map:
// out[y][x] = in[x][N-1-y]; k turns = k single turns.
template <class T>
Tensor rotate_reference(const Tensor& t, int k) {
  Tensor cur = t.clone();
  const int64_t N = t.dim(-1), C = t.numel() / (N * N);
  for (int turn = 0; turn < k; ++turn) {
    Tensor next = Tensor::empty(t.shape(), t.dtype());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < N; ++y)
        for (int64_t x = 0; x < N; ++x) next.data<T>()[(c * N + y) * N + x] = cur.data<T>()[(c * N + x) * N + N - 1 - y];
    cur = next;
  }
  return cur;
}

// The (y, x) every output pixel of modality m reads, from the encoded values; also checks that
// every pixel still comes from sample `index`, modality m, its own channel.
std::vector<std::pair<int64_t, int64_t>> origins(const Tensor& img, int64_t index, int64_t m) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t y = 0; y < img.dim(1); ++y)
    for (int64_t x = 0; x < img.dim(2); ++x) {
      for (int64_t c = 0; c < img.dim(0); ++c) {
        const auto o = decode_pixel(at(img, c, y, x));
        EXPECT_TRUE(o.index == index && o.modality == m && o.channel == c) << "pixel (" << c << ", " << y << ", " << x << ")";
        if (c == 0) out.emplace_back(o.y, o.x);
        else EXPECT_TRUE(out.back() == std::make_pair(o.y, o.x)) << "channels of one pixel moved apart at " << y << ", " << x;
      }
    }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> label_origins(const Tensor& lm) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < lm.numel(); ++i) out.emplace_back(lm.data<int64_t>()[i] / lm.dim(1), lm.data<int64_t>()[i] % lm.dim(1));
  return out;
}

TEST(GeometricTransform, HorizontalFlipMirrorsColumnsAndTwiceIsIdentity) {
  const Sample original = encoded_sample(3, {3, 1}, 5, 7, true);
  Sample s = original;
  data::GeometricOptions o;
  o.hflip = 1.0f;
  const auto t = data::geometric(o);
  Generator gen(1);
  t->apply(s, gen);
  for (size_t m = 0; m < 2; ++m)
    for (int64_t c = 0; c < s.images[m].dim(0); ++c)
      for (int64_t y = 0; y < 5; ++y)
        for (int64_t x = 0; x < 7; ++x) ASSERT_EQ(at(s.images[m], c, y, x), encode_pixel(3, m, c, y, 6 - x));
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 7; ++x) ASSERT_EQ(label_at(s.label_maps[0], y, x), y * 7 + 6 - x);
  t->apply(s, gen);
  EXPECT_TRUE(equal(s, original));
}

TEST(GeometricTransform, VerticalFlipMirrorsRowsAndTwiceIsIdentity) {
  const Sample original = encoded_sample(2, {3}, 4, 6, true);
  Sample s = original;
  data::GeometricOptions o;
  o.vflip = 1.0f;
  const auto t = data::geometric(o);
  Generator gen(1);
  t->apply(s, gen);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 6; ++x) ASSERT_EQ(at(s.images[0], c, y, x), encode_pixel(2, 0, c, 3 - y, x));
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 6; ++x) ASSERT_EQ(label_at(s.label_maps[0], y, x), (3 - y) * 6 + x);
  t->apply(s, gen);
  EXPECT_TRUE(equal(s, original));
}

// Every rotation is a quarter-turn multiple k in {1, 2, 3} of the image and its label map alike;
// rotations whose turns add up to a multiple of four give the original back.
TEST(GeometricTransform, Rot90TurnsImageAndLabelsAndFourQuarterTurnsAreIdentity) {
  const Sample original = encoded_sample(1, {2, 1}, 5, 5, true);
  data::GeometricOptions o;
  o.rot90 = 1.0f;
  const auto t = data::geometric(o);
  Generator gen(7);
  Sample s = original;
  std::set<int> seen;
  int total = 0, identities = 0;
  for (int step = 0; step < 24; ++step) {
    const Sample before = deep_copy(s);
    t->apply(s, gen);
    int k_found = 0;
    for (int k = 1; k <= 3; ++k)
      if (equal(s.images[0], rotate_reference<float>(before.images[0], k))) k_found = k;
    ASSERT_NE(k_found, 0) << "step " << step << ": not a quarter-turn multiple of the input";
    seen.insert(k_found);
    EXPECT_TRUE(equal(s.images[1], rotate_reference<float>(before.images[1], k_found)));
    EXPECT_TRUE(equal(s.label_maps[0], rotate_reference<int64_t>(before.label_maps[0], k_found)));
    total = (total + k_found) % 4;
    if (total == 0) {
      EXPECT_TRUE(equal(s, original)) << "after " << step + 1 << " rotations adding up to whole turns";
      ++identities;
    }
  }
  EXPECT_EQ(seen.size(), 3u) << "every k in {1, 2, 3} is drawn";
  EXPECT_GT(identities, 0);
}

TEST(GeometricTransform, Rot90OfANonSquareImageIsAnError) {
  data::GeometricOptions o;
  o.rot90 = 0.01f;   // checked before drawing, so it fails whatever the draw
  const auto t = data::geometric(o);
  for (uint64_t seed = 0; seed < 3; ++seed) {
    Sample s = encoded_sample(0, {3}, 4, 6, false);
    Generator gen(seed);
    testing::expect_error_naming([&] { t->apply(s, gen); }, "geometric", "square");
  }
}

TEST(GeometricTransform, JointModeMovesEveryModalityAndTheLabelMapTogether) {
  data::GeometricOptions o;
  o.hflip = 0.5f, o.vflip = 0.5f, o.rot90 = 0.5f;
  const auto t = data::geometric(o);
  std::set<std::vector<std::pair<int64_t, int64_t>>> geometries;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    Sample s = encoded_sample(4, {3, 1, 2}, 6, 6, true);
    Generator gen(seed);
    t->apply(s, gen);
    const auto where = origins(s.images[0], 4, 0);
    EXPECT_EQ(origins(s.images[1], 4, 1), where);
    EXPECT_EQ(origins(s.images[2], 4, 2), where);
    EXPECT_EQ(label_origins(s.label_maps[0]), where);
    EXPECT_TRUE(s.label_maps[1].same_as(s.label_maps[0]) && s.label_maps[2].same_as(s.label_maps[0]))
        << "a shared label map stays one tensor in joint mode";
    geometries.insert(where);
  }
  EXPECT_GE(geometries.size(), 6u) << "the draws vary";
}

TEST(GeometricTransform, DecoupledModeGivesEachModalityItsOwnGeometryAndLabelMap) {
  data::GeometricOptions o;
  o.hflip = 0.5f, o.vflip = 0.5f, o.rot90 = 0.5f, o.decoupled = true;
  const auto t = data::geometric(o);
  int differing = 0;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    Sample s = encoded_sample(5, {3, 1}, 6, 6, true);
    Generator gen(seed);
    t->apply(s, gen);
    const auto where0 = origins(s.images[0], 5, 0), where1 = origins(s.images[1], 5, 1);
    EXPECT_EQ(label_origins(s.label_maps[0]), where0);
    EXPECT_EQ(label_origins(s.label_maps[1]), where1);
    if (where0 != where1) ++differing;
  }
  EXPECT_GE(differing, 16) << "independent draws of 32 geometries mostly differ";
}

// Zoom by s: bilinear for images, nearest for labels, a random window back to H x W, padding 0
// (images) and 255 (labels) when zooming out. The image holds y in channel 0 and x in channel 1,
// so where each output pixel samples the input can be read off and compared with the label map.
void check_scale_crop(float scale_min, float scale_max, bool expect_padding) {
  const int64_t H = 12, W = 10;
  data::GeometricOptions o;
  o.scale_min = scale_min, o.scale_max = scale_max;
  const auto t = data::geometric(o);
  bool saw_padding = false;
  std::set<std::vector<int64_t>> windows;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Sample s;
    Tensor img = Tensor::empty({2, H, W});
    Tensor lm = Tensor::empty({H, W}, DType::Int64);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        img.data<float>()[y * W + x] = static_cast<float>(y);
        img.data<float>()[(H + y) * W + x] = static_cast<float>(x);
        lm.data<int64_t>()[y * W + x] = y * W + x;
      }
    s.images = {img};
    s.label_maps = {lm};
    Generator gen(seed);
    t->apply(s, gen);
    ASSERT_EQ(s.images[0].shape(), (Shape{2, H, W}));
    ASSERT_EQ(s.label_maps[0].shape(), (Shape{H, W}));
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t label = label_at(s.label_maps[0], y, x);
        if (label == data::kIgnoreLabel) {
          saw_padding = true;
          EXPECT_EQ(at(s.images[0], 0, y, x), 0.0f);
          EXPECT_EQ(at(s.images[0], 1, y, x), 0.0f);
          continue;
        }
        ASSERT_TRUE(label >= 0 && label < H * W) << "nearest never invents a class: " << label;
        // Bilinear samples (d + 0.5)/s - 0.5, nearest floor((d + 0.5)/s): at most half a pixel apart.
        EXPECT_LE(std::abs(at(s.images[0], 0, y, x) - label / W), 0.5f + 1e-5f) << y << ", " << x;
        EXPECT_LE(std::abs(at(s.images[0], 1, y, x) - label % W), 0.5f + 1e-5f) << y << ", " << x;
      }
    windows.insert(s.label_maps[0].to_vector<int64_t>());
  }
  EXPECT_EQ(saw_padding, expect_padding);
  EXPECT_GE(windows.size(), 4u) << "the window position is drawn";
}

TEST(GeometricTransform, ScaleCropZoomingInKeepsLabelsAlignedAndInvented) { check_scale_crop(1.5f, 2.5f, false); }
TEST(GeometricTransform, ScaleCropZoomingOutPadsWithZeroAndIgnore) { check_scale_crop(0.4f, 0.7f, true); }

// Zooming in by exactly 2 with the window at the origin: labels repeat 2x2, and the image is the
// half-pixel-centred bilinear upsampling (source (d + 0.5)/2 - 0.5, clamped).
TEST(GeometricTransform, ScaleTwoSamplesTheExpectedPixels) {
  data::GeometricOptions o;
  o.scale_min = o.scale_max = 2.0f;
  const auto t = data::geometric(o);
  const int64_t N = 4;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Sample s;
    Tensor img = Tensor::empty({1, N, N});
    Tensor lm = Tensor::empty({N, N}, DType::Int64);
    for (int64_t i = 0; i < N * N; ++i) img.data<float>()[i] = static_cast<float>(i % N), lm.data<int64_t>()[i] = i;
    s.images = {img};
    s.label_maps = {lm};
    Generator gen(seed);
    t->apply(s, gen);
    // The window origin (oy, ox) in the 8x8 zoom: output (y, x) has label ((y+oy)/2)·N + (x+ox)/2.
    int64_t oy = -1, ox = -1;
    for (int64_t cy = 0; cy <= N; ++cy)
      for (int64_t cx = 0; cx <= N; ++cx) {
        bool all = true;
        for (int64_t y = 0; y < N; ++y)
          for (int64_t x = 0; x < N; ++x) all = all && label_at(s.label_maps[0], y, x) == ((y + cy) / 2) * N + (x + cx) / 2;
        if (all) oy = cy, ox = cx;
      }
    ASSERT_GE(oy, 0) << "the label map is a 2x nearest zoom of some window";
    for (int64_t y = 0; y < N; ++y)
      for (int64_t x = 0; x < N; ++x) {
        const float source_x = std::min(std::max((x + ox + 0.5f) / 2.0f - 0.5f, 0.0f), static_cast<float>(N - 1));
        EXPECT_FLOAT_EQ(at(s.images[0], 0, y, x), source_x) << "seed " << seed << " at " << y << ", " << x;
      }
  }
}

TEST(GeometricTransform, ResizeIsBilinearForImagesAndNearestForLabels) {
  Sample s;
  s.images = {Tensor::from_vector<float>({0, 1, 2, 3}, {1, 2, 2})};
  s.label_maps = {Tensor::from_vector<int64_t>({7, 8, 9, 4}, {2, 2})};
  data::GeometricOptions o;
  o.resize_h = o.resize_w = 4;
  Generator gen(0);
  data::geometric(o)->apply(s, gen);
  const std::vector<float> bilinear = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                                       1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
  EXPECT_EQ(s.images[0].to_vector<float>(), bilinear);
  const std::vector<int64_t> nearest = {7, 7, 8, 8, 7, 7, 8, 8, 9, 9, 4, 4, 9, 9, 4, 4};
  EXPECT_EQ(s.label_maps[0].to_vector<int64_t>(), nearest);

  // Down by 2: nearest reads source floor((d + 0.5) * 2) = 1, 3.
  Sample down;
  std::vector<int64_t> labels(16);
  for (int64_t i = 0; i < 16; ++i) labels[i] = i;
  down.images = {Tensor::zeros({1, 4, 4})};
  down.label_maps = {Tensor::from_vector<int64_t>(labels, {4, 4})};
  o.resize_h = o.resize_w = 2;
  data::geometric(o)->apply(down, gen);
  EXPECT_EQ(down.label_maps[0].to_vector<int64_t>(), (std::vector<int64_t>{5, 7, 13, 15}));
}

TEST(GeometricTransform, SameGeneratorSeedGivesTheSameResultAndInputsAreNotModified) {
  data::GeometricOptions o;
  o.hflip = 0.5f, o.vflip = 0.5f, o.rot90 = 0.5f, o.scale_min = 0.8f, o.scale_max = 1.3f;
  const auto t = data::geometric(o);
  const Sample original = encoded_sample(9, {3, 1}, 8, 8, true);
  const Sample pristine = deep_copy(original);
  std::set<std::vector<float>> results;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Sample a = original, b = original;
    Generator ga(seed), gb(seed);
    t->apply(a, ga);
    t->apply(b, gb);
    EXPECT_TRUE(equal(a, b)) << "seed " << seed;
    results.insert(a.images[0].to_vector<float>());
  }
  EXPECT_GE(results.size(), 6u) << "different seeds give different geometry";
  EXPECT_TRUE(equal(original, pristine)) << "transforms replace tensors, they never write into them";
}

TEST(GeometricTransform, BadOptionsAndSamplesAreErrors) {
  data::GeometricOptions o;
  o.hflip = 1.5f;
  testing::expect_error_naming([&] { data::geometric(o); }, "geometric", "hflip");
  o = {};
  o.scale_min = 1.2f, o.scale_max = 0.8f;
  testing::expect_error_naming([&] { data::geometric(o); }, "geometric", "scale");
  o = {};
  o.resize_h = 4;
  testing::expect_error_naming([&] { data::geometric(o); }, "geometric", "resize");
  o = {};
  o.hflip = 1.0f;
  Sample s = encoded_sample(0, {3, 1}, 4, 4, false);
  s.images[1] = Tensor::zeros({1, 5, 4});
  Generator gen(0);
  testing::expect_error_naming([&] { data::geometric(o)->apply(s, gen); }, "geometric", "one size");
}

// --- photometric -------------------------------------------------------------------------

Sample rgb_sample(uint64_t seed, float lo, float hi, int64_t H = 16, int64_t W = 16) {
  Generator gen(seed);
  Sample s;
  s.images = {rand_uniform({3, H, W}, lo, hi, gen), rand_uniform({1, H, W}, 0.5f, 4.0f, gen)};
  return s;
}

TEST(ColorJitter, StaysInRangeAndDependsOnlyOnTheGenerator) {
  data::ColorJitterOptions o;
  o.brightness = 0.8f, o.contrast = 0.8f, o.saturation = 0.8f, o.noise_std = 0.2f;
  const auto t = data::color_jitter(0, o);
  for (uint64_t seed = 0; seed < 6; ++seed) {
    const Sample original = rgb_sample(seed, 0.0f, 1.0f);
    Sample a = original, b = original;
    Generator ga(100 + seed), gb(100 + seed);
    t->apply(a, ga);
    t->apply(b, gb);
    EXPECT_TRUE(equal(a, b));
    EXPECT_FALSE(equal(a.images[0], original.images[0]));
    EXPECT_TRUE(a.images[1].same_as(original.images[1])) << "other modalities are untouched";
    for (float v : a.images[0].to_vector<float>()) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
  }
}

TEST(ColorJitter, BrightnessScalesEveryValueByOneFactor) {
  data::ColorJitterOptions o;
  o.brightness = 0.5f;
  const Sample original = rgb_sample(1, 0.05f, 0.6f);   // x·b <= 0.9: nothing clamps
  std::set<float> factors;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    Sample s = original;
    Generator gen(seed);
    data::color_jitter(0, o)->apply(s, gen);
    const auto x = original.images[0].to_vector<float>(), y = s.images[0].to_vector<float>();
    const float b = y[0] / x[0];
    EXPECT_TRUE(b >= 0.5f - 1e-6f && b <= 1.5f + 1e-6f) << b;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], x[i] * b, 1e-6f);
    factors.insert(b);
  }
  EXPECT_EQ(factors.size(), 5u);
}

TEST(ColorJitter, ContrastScalesAroundTheGreyMean) {
  data::ColorJitterOptions o;
  o.contrast = 0.5f;
  const Sample original = rgb_sample(2, 0.3f, 0.7f);   // |x - m| <= 0.4, times 1.5 stays in [0, 1]
  const auto x = original.images[0].to_vector<float>();
  const int64_t plane = 16 * 16;
  double mean = 0.0;
  for (int64_t i = 0; i < plane; ++i) mean += 0.299 * x[i] + 0.587 * x[plane + i] + 0.114 * x[2 * plane + i];
  mean /= plane;
  Sample s = original;
  Generator gen(3);
  data::color_jitter(0, o)->apply(s, gen);
  const auto y = s.images[0].to_vector<float>();
  const double c = (y[0] - mean) / (x[0] - mean);
  EXPECT_TRUE(c >= 0.5 - 1e-4 && c <= 1.5 + 1e-4) << c;
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], mean + c * (x[i] - mean), 2e-5) << i;
}

TEST(ColorJitter, SaturationKeepsEachPixelsGreyLevel) {
  data::ColorJitterOptions o;
  o.saturation = 0.9f;
  const Sample original = rgb_sample(4, 0.3f, 0.7f);
  const auto x = original.images[0].to_vector<float>();
  const int64_t plane = 16 * 16;
  auto grey = [&](const std::vector<float>& v, int64_t i) {
    return 0.299 * v[i] + 0.587 * v[plane + i] + 0.114 * v[2 * plane + i];
  };
  for (uint64_t seed = 0; seed < 3; ++seed) {
    Sample s = original;
    Generator gen(seed);
    data::color_jitter(0, o)->apply(s, gen);
    const auto y = s.images[0].to_vector<float>();
    const double factor = (y[0] - grey(x, 0)) / (x[0] - grey(x, 0));
    EXPECT_TRUE(factor >= 0.1 - 1e-3 && factor <= 1.9 + 1e-3) << factor;
    for (int64_t i = 0; i < plane; ++i) {
      ASSERT_NEAR(grey(y, i), grey(x, i), 1e-5) << i;
      for (int64_t c = 0; c < 3; ++c)
        ASSERT_NEAR(y[c * plane + i] - grey(x, i), factor * (x[c * plane + i] - grey(x, i)), 1e-4) << i;
    }
  }
}

// 3·32·32 = 3072 draws: the sample std is within ~1.3% (one standard error) of noise_std; 8%
// is six standard errors.
TEST(ColorJitter, NoiseHasTheRequestedStandardDeviation) {
  data::ColorJitterOptions o;
  o.noise_std = 0.05f;
  Sample s;
  s.images = {Tensor::full({3, 32, 32}, 0.5f)};   // 0.5 ± 10 std never clamps in practice
  Generator gen(11);
  data::color_jitter(0, o)->apply(s, gen);
  double sum = 0.0, sq = 0.0;
  const auto y = s.images[0].to_vector<float>();
  for (float v : y) sum += v - 0.5, sq += (v - 0.5) * (v - 0.5);
  const double mean = sum / y.size(), stddev = std::sqrt(sq / y.size() - mean * mean);
  EXPECT_NEAR(stddev, 0.05, 0.05 * 0.08);
  EXPECT_NEAR(mean, 0.0, 6 * 0.05 / std::sqrt(3072.0));
}

TEST(ColorJitter, BadOptionsAndModalitiesAreErrors) {
  data::ColorJitterOptions o;
  o.saturation = 0.5f;
  Sample s = rgb_sample(0, 0.0f, 1.0f);
  Generator gen(0);
  testing::expect_error_naming([&] { data::color_jitter(1, o)->apply(s, gen); }, "color_jitter", "3-channel");
  testing::expect_error_naming([&] { data::color_jitter(2, o)->apply(s, gen); }, "color_jitter", "modality 2");
  o.saturation = 1.5f;
  testing::expect_error_naming([&] { data::color_jitter(0, o); }, "color_jitter", "saturation");
}

TEST(DepthNoise, HolesStayZeroAndDropsFollowTheProbability) {
  data::DepthNoiseOptions o;
  o.noise_std = 0.02f, o.drop_prob = 0.2f, o.scale_min = 0.9f, o.scale_max = 1.1f;
  Generator fill(5);
  Tensor depth = rand_uniform({1, 64, 64}, 0.5f, 5.0f, fill);
  for (int64_t i = 0; i < depth.numel(); i += 7) depth.data<float>()[i] = 0.0f;   // holes
  Sample s;
  s.images = {Tensor::zeros({3, 64, 64}), depth};
  Sample a = s, b = s;
  Generator ga(8), gb(8);
  data::depth_noise(1, o)->apply(a, ga);
  data::depth_noise(1, o)->apply(b, gb);
  EXPECT_TRUE(equal(a, b));
  const auto x = depth.to_vector<float>(), y = a.images[1].to_vector<float>();
  int64_t valid = 0, dropped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_GE(y[i], 0.0f);
    if (x[i] == 0.0f) {
      ASSERT_EQ(y[i], 0.0f) << "a hole stays a hole at " << i;
      continue;
    }
    ++valid;
    if (y[i] == 0.0f) ++dropped;
  }
  // ~3500 valid pixels: the drop fraction's standard error is ~0.007.
  EXPECT_NEAR(static_cast<double>(dropped) / valid, 0.2, 0.04);
}

TEST(DepthNoise, ScaleIsGlobalAndNoiseIsRelative) {
  Generator fill(6);
  const Tensor depth = rand_uniform({1, 64, 64}, 0.5f, 5.0f, fill);
  data::DepthNoiseOptions scale_only;
  scale_only.scale_min = 0.8f, scale_only.scale_max = 1.2f;
  Sample s;
  s.images = {depth};
  Generator gen(1);
  data::depth_noise(0, scale_only)->apply(s, gen);
  const auto x = depth.to_vector<float>(), y = s.images[0].to_vector<float>();
  const float k = y[0] / x[0];
  EXPECT_TRUE(k >= 0.8f - 1e-6f && k <= 1.2f + 1e-6f) << k;
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], x[i] * k, 1e-6f * x[i]);

  data::DepthNoiseOptions noise_only;
  noise_only.noise_std = 0.03f;
  Sample n;
  n.images = {depth};
  data::depth_noise(0, noise_only)->apply(n, gen);
  const auto z = n.images[0].to_vector<float>();
  double sq = 0.0;
  for (size_t i = 0; i < x.size(); ++i) sq += (z[i] / x[i] - 1.0) * (z[i] / x[i] - 1.0);
  EXPECT_NEAR(std::sqrt(sq / x.size()), 0.03, 0.03 * 0.08);   // 4096 draws: standard error ~1.1%
}

TEST(Normalize, SubtractsTheMeanAndDividesByTheStdPerChannel) {
  Sample s;
  s.images = {Tensor::from_vector<float>({1, 2, 3, 4, 10, 20, 30, 40}, {2, 2, 2})};
  Generator gen(0);
  data::normalize(0, {2.0f, 20.0f}, {0.5f, 10.0f})->apply(s, gen);
  EXPECT_EQ(s.images[0].to_vector<float>(), (std::vector<float>{-2, 0, 2, 4, -1, 0, 1, 2}));
  testing::expect_error_naming([&] { data::normalize(0, {0.0f}, {1.0f})->apply(s, gen); }, "normalize", "2 channels");
  testing::expect_error_naming([&] { data::normalize(0, {0.0f}, {0.0f}); }, "normalize", "positive std");
}

TEST(Compose, AppliesInOrder) {
  const auto shift = data::normalize(0, {1.0f}, {1.0f});   // x - 1
  const auto halve = data::normalize(0, {0.0f}, {2.0f});   // x / 2
  Sample a, b;
  a.images = b.images = {Tensor::from_vector<float>({5.0f}, {1, 1, 1})};
  Generator gen(0);
  data::compose({shift, halve})->apply(a, gen);
  data::compose({halve, shift})->apply(b, gen);
  EXPECT_EQ(a.images[0].item(), 2.0f);
  EXPECT_EQ(b.images[0].item(), 1.5f);
  EXPECT_NE(data::compose({shift, halve})->describe().find("normalize"), std::string::npos);
  testing::expect_error_naming([&] { data::compose({shift, nullptr}); }, "compose", "null");
}

// Against a straightforward double computation over the same (evenly spread) samples.
TEST(ChannelStats, MatchDirectComputation) {
  testing::EncodedOptions eo;
  eo.count = 9;
  const testing::EncodedDataset dataset(eo);
  for (int64_t max_samples : {int64_t{100}, int64_t{4}}) {
    const data::ChannelStats stats = data::compute_channel_stats(dataset, max_samples);
    ASSERT_EQ(stats.mean.size(), 2u);
    const int64_t count = std::min<int64_t>(9, max_samples);
    for (size_t m = 0; m < 2; ++m) {
      ASSERT_EQ(stats.mean[m].size(), static_cast<size_t>(eo.modalities[m].channels));
      for (int64_t c = 0; c < eo.modalities[m].channels; ++c) {
        std::vector<double> v;
        for (int64_t i = 0; i < count; ++i) {
          const int64_t index = i * 9 / count;
          for (int64_t y = 0; y < 6; ++y)
            for (int64_t x = 0; x < 6; ++x) v.push_back(encode_pixel(index, m, c, y, x));
        }
        double mean = 0.0, var = 0.0;
        for (double a : v) mean += a;
        mean /= v.size();
        for (double a : v) var += (a - mean) * (a - mean);
        var /= v.size();
        EXPECT_NEAR(stats.mean[m][c], mean, 1e-6 * mean) << m << ", " << c;
        EXPECT_NEAR(stats.std[m][c], std::sqrt(var), 1e-6 * std::sqrt(var)) << m << ", " << c;
      }
    }
  }
  testing::expect_error_naming([&] { data::compute_channel_stats(dataset, 0); }, "compute_channel_stats", "max_samples");
}

}  // namespace
}  // namespace xmkd
