// Depth encodings (data/depth_encoding.h) against the numpy reference of
// tools/torch_fixtures/depth_encoding.py, on a 21x30 depth map with holes, occluding edges and a
// hole region at the border. Both sides compute in double and round to float once at the end, so
// the comparison is EXPECT_FLOAT_EQ (4 ulps): the sums are made in the same order, and only the
// last rounding of the normal's length (numpy's norm against sqrt of the sum) can differ.
#include <gtest/gtest.h>

#include "data/depth_encoding.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/unit/data_test_dataset.h"

namespace xmkd::data {
namespace {

using xmkd::testing::contains;
using xmkd::testing::error_message;

DepthEncoding relief(int64_t window, float clip, bool fill) {
  DepthEncoding e = default_depth_encoding(DepthEncodingKind::Relief);
  e.window = window, e.clip = clip, e.fill_holes = fill;
  return e;
}

DepthEncoding normals(int64_t window, float hfov) {
  DepthEncoding e = default_depth_encoding(DepthEncodingKind::Normals);
  e.window = window, e.hfov_deg = hfov;
  return e;
}

void expect_matches(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_FLOAT_EQ(g[i], w[i]) << what << " element " << i;
    if (::testing::Test::HasFailure()) return;   // one element is enough to read
  }
}

TEST(DepthEncoding, MatchesTheNumpyReference) {
  using xmkd::testing::fixture_tensor;
  const TensorMap fixture = xmkd::testing::load_fixture("depth_encoding");
  const Tensor depth = fixture_tensor(fixture, "depth");
  expect_matches(encode_depth(depth, relief(5, 0.2f, true)), fixture_tensor(fixture, "relief_w5_fill"), "relief w5 fill");
  expect_matches(encode_depth(depth, relief(3, 0.15f, false)), fixture_tensor(fixture, "relief_w3_mark"), "relief w3 mark");
  expect_matches(encode_depth(depth, normals(3, 58.0f)), fixture_tensor(fixture, "normals_w3"), "normals w3");
  expect_matches(encode_depth(depth, normals(1, 70.0f)), fixture_tensor(fixture, "normals_w1_fov70"), "normals w1 fov70");
}

// Properties a reader can check by hand, independent of the fixture.
TEST(DepthEncoding, ReliefOfAPlaneIsZeroAndHolesAreFilledOrMarked) {
  const int64_t H = 9, W = 11;
  std::vector<float> d(static_cast<size_t>(H * W), 2.5f);
  d[4 * W + 5] = 0.0f;
  const Tensor depth = Tensor::from_vector(d, {1, H, W});
  const std::vector<float> filled = encode_depth(depth, relief(5, 0.2f, true)).to_vector<float>();
  const std::vector<float> marked = encode_depth(depth, relief(5, 0.2f, false)).to_vector<float>();
  for (int64_t i = 0; i < H * W; ++i) {
    EXPECT_EQ(filled[i], 0.0f) << i;   // a constant map has no relief, at the border too
    EXPECT_EQ(marked[i], i == 4 * W + 5 ? -0.3f : 0.0f) << i;
  }
  // A 1 m step is clipped.
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 6; j < W; ++j) d[i * W + j] = 3.5f;
  const std::vector<float> step = encode_depth(Tensor::from_vector(d, {1, H, W}), relief(5, 0.2f, true)).to_vector<float>();
  EXPECT_EQ(step[2 * W + 6], 0.2f);
  EXPECT_EQ(step[2 * W + 5], -0.2f);
  EXPECT_EQ(step[2 * W + 0], 0.0f);
}

TEST(DepthEncoding, NormalsOfAFrontoParallelWallFaceTheCamera) {
  const int64_t H = 8, W = 10;
  const Tensor depth = Tensor::from_vector(std::vector<float>(static_cast<size_t>(H * W), 3.0f), {1, H, W});
  const std::vector<float> n = encode_depth(depth, normals(3, 58.0f)).to_vector<float>();
  for (int64_t i = 0; i < H * W; ++i) {
    EXPECT_NEAR(n[i], 0.0f, 1e-6f);
    EXPECT_NEAR(n[H * W + i], 0.0f, 1e-6f);
    EXPECT_NEAR(n[2 * H * W + i], -1.0f, 1e-6f);
  }
}

TEST(DepthEncoding, MetricIsTheIdentity) {
  const Tensor depth = Tensor::from_vector(std::vector<float>{0.0f, 1.5f, 2.0f, 0.7f}, {1, 2, 2});
  EXPECT_EQ(encode_depth(depth, DepthEncoding{}).to_vector<float>(), depth.to_vector<float>());
}

TEST(DepthEncoding, JsonRoundTripAndErrorsNameWhere) {
  for (const DepthEncoding& e : {DepthEncoding{}, relief(7, 0.1f, false), normals(5, 63.3f)}) {
    const DepthEncoding back = depth_encoding_from_json(depth_encoding_to_json(e), "test");
    EXPECT_EQ(back.describe(), e.describe());
    EXPECT_EQ(back.channels(), e.channels());
  }
  std::string message = error_message([] { depth_encoding_from_json({{"name", "hha"}}, "run/dataset.json: key 'x'"); });
  EXPECT_TRUE(contains(message, "run/dataset.json: key 'x'")) << message;
  EXPECT_TRUE(contains(message, "metric, relief or normals")) << message;
  message = error_message([] { depth_encoding_from_json({{"name", "relief"}, {"window", 4}, {"clip", 0.2}, {"holes", "fill"}}, "f"); });
  EXPECT_TRUE(contains(message, "window must be an odd number")) << message;
  message = error_message([] { depth_encoding_from_json({{"name", "relief"}, {"window", 5}, {"clip", 0.2}}, "f"); });
  EXPECT_TRUE(contains(message, "'holes'")) << message;
  message = error_message([] {
    encode_depth(Tensor::from_vector(std::vector<float>(6, 1.0f), {2, 1, 3}), relief(5, 0.2f, true));
  });
  EXPECT_TRUE(contains(message, "(1, H, W)")) << message;
}

TEST(DepthEncoding, EncodedDatasetReportsTheEncodedChannels) {
  auto base = std::make_shared<xmkd::testing::EncodedDataset>(xmkd::testing::EncodedOptions{});
  ASSERT_GE(base->modality_index("depth"), 0);
  const int64_t m = base->modality_index("depth");
  auto encoded = depth_encoded(base, m, normals(3, 58.0f));
  EXPECT_EQ(encoded->modalities()[static_cast<size_t>(m)].channels, 3);
  const Sample sample = encoded->get(0);
  EXPECT_EQ(sample.images[static_cast<size_t>(m)].dim(0), 3);
  EXPECT_EQ(sample.images[0].shape(), base->get(0).images[0].shape());   // the other modality is untouched
}

}  // namespace
}  // namespace xmkd::data
