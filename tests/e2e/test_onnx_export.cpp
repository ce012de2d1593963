// `xmkd export --format onnx` (tools/train/onnx_export.h). Each deployable architecture of the
// registry, with drawn batch-norm statistics, is saved as `xmkd export` saves it, written as ONNX,
// checked by onnx.checker and run by OpenCV's dnn module (tests/e2e/onnx_check.py, an independent
// runtime) on the images xmkd predict reads; OpenCV's logits must match predict_image's. The
// Python half skips, saying why, where no python imports onnx, cv2 and numpy; the graph's
// structure (nodes, initializers, shapes, metadata) is checked without Python.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/random.h"
#include "models/anyseg.h"
#include "models/baselines.h"
#include "models/crodino_kd.h"
#include "models/discom_branch.h"
#include "tests/support/errors.h"
#include "tests/support/run_cli.h"
#include "tests/support/temp_dir.h"
#include "tools/train/export.h"
#include "tools/train/onnx_export.h"
#include "tools/train/run_info.h"

namespace xmkd::train {
namespace {

using xmkd::testing::contains;
using xmkd::testing::error_message;

// Max |OpenCV - xmkd| over a case's outputs, relative to the largest |xmkd output|. Both compute
// in float32 and differ only in summation order (OpenCV blocks and vectorises its convolutions and
// GEMMs differently, divides by a reciprocal; the relief box sums are float32 in the graph, double
// in C++): each of the network's ~25 layers adds a few ulps (~1e-7) of its output's scale, which
// stays near 1e-6 of the logits' scale (measured 0.8e-6 to 1.5e-6; docs/training.md lists them).
// 2e-5 leaves a tenfold margin for other processors' vector paths, while the errors an exporter
// can make move the logits by far more: a batch-norm epsilon of 1e-4 instead of 1e-5 by 4e-4 to
// 8e-4 of their scale, a relief clip of 0.4 instead of 0.2 by 2.5e-4, an align_corners resize by 0.3.
constexpr double kRelativeTolerance = 2e-5;

// A python that imports onnx, cv2 and numpy: $XMKD_ONNX_PYTHON when set (only it), else Debian's
// /usr/bin/python3 (where python3-onnx and python3-opencv install; a pyenv python3 on PATH lacks
// them), else python3 on PATH; "" when none does.
std::string onnx_python(const std::string& capture) {
  std::vector<std::string> candidates = {"/usr/bin/python3", "python3"};
  if (const char* env = std::getenv("XMKD_ONNX_PYTHON")) candidates = {env};
  std::string out;
  for (const std::string& python : candidates) {
    if (testing::run_command("'" + python + "' -c 'import onnx, cv2, numpy'", capture, &out) == 0) return python;
  }
  return "";
}

// A fresh network's batch norms are the identity (weight 1, bias 0, mean 0, var 1), under which a
// wrong epsilon or a swapped mean and variance go unseen: draw them, and every bias.
void draw_batch_norms(Module& net, uint64_t seed) {
  Generator gen(seed);
  auto draw = [&](const std::string& name, Tensor& t) {
    if (t.dtype() != DType::Float32 || t.ndim() != 1) return;
    auto ends = [&](const char* suffix) {
      const std::string s = suffix;
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    const float lo = ends("running_var") ? 0.5f : ends(".weight") ? 0.6f : -0.3f;
    const float hi = ends("running_var") ? 2.0f : ends(".weight") ? 1.5f : 0.3f;
    t.copy_from(rand_uniform(t.shape(), lo, hi, gen));
  };
  for (auto& [name, t] : net.named_parameters()) draw(name, t);
  for (auto& [name, t] : net.named_buffers()) draw(name, t);
}

struct OnnxCase {
  std::string name;
  std::shared_ptr<models::Deployable> net;
  data::Task task = data::Task::Classification;
  int64_t modality = 0;             // 0: rgb (3 channels, 8-bit PNGs), 1: depth (16-bit PNGs in mm)
  data::DepthEncoding encoding;     // of the depth modality
  int64_t height = 64, width = 64;  // of the images
};

class OnnxExport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onnx_export_available()) GTEST_SKIP() << "xmkd was built without ONNX export (libonnx-dev, libprotobuf-dev)";
  }
  std::string path(const std::string& name) const { return dir_.path(name); }

  // The network saved as `xmkd export` saves it (modality m of an rgb + depth run), then loaded.
  DeployedModel save_and_load(const OnnxCase& c, const DeployableFactory& make = models::make_deployable) {
    RunInfo info;
    info.task = c.task;
    info.num_classes = 3;
    const int64_t depth_channels = c.encoding.channels();
    info.modalities = {{"rgb", 3}, {"depth", depth_channels}};
    // A relief map is centimetres around 0; metric depth is metres.
    const float depth_mean = c.encoding.identity() ? 2.0f : 0.01f, depth_std = c.encoding.identity() ? 1.5f : 0.08f;
    info.normalization.mean = {{0.5f, 0.4f, 0.3f}, std::vector<float>(static_cast<size_t>(depth_channels), depth_mean)};
    info.normalization.std = {{0.25f, 0.2f, 0.5f}, std::vector<float>(static_cast<size_t>(depth_channels), depth_std)};
    info.class_names = {"box", "cylinder", "sphere"};
    info.depth_encoding = c.encoding;
    draw_batch_norms(*c.net, 17);
    const std::string file = path(c.name + ".safetensors");
    io::save_safetensors(file, c.net->state_dict(), deploy_metadata(info, c.modality, c.net->spec()));
    return load_deployed(file, make);
  }

  // Image `i` of a case: 8-bit RGB with varied values, or 16-bit depth in millimetres with a
  // slanted floor, a box 30 cm nearer (steps beyond the relief clip) and holes, some on the border.
  std::string write_image(const OnnxCase& c, int i) {
    data::Image image;
    image.height = static_cast<int>(c.height), image.width = static_cast<int>(c.width);
    const std::string file = path(c.name + "_" + std::to_string(i) + ".png");
    if (c.modality == 0) {
      image.channels = 3, image.bit_depth = 8;
      for (int64_t k = 0; k < c.height * c.width * 3; ++k)
        image.pixels.push_back(static_cast<uint16_t>((k * (37 + 6 * i) + 11) % 256));
      data::write_png8(file, image);
      return file;
    }
    image.channels = 1, image.bit_depth = 16;
    for (int64_t y = 0; y < c.height; ++y)
      for (int64_t x = 0; x < c.width; ++x) {
        double mm = 1500.0 + 20.0 * static_cast<double>(y) + 7.0 * static_cast<double>(x) + 300.0 * i;
        if (x > c.width / 4 && x < c.width / 2 && y > c.height / 3) mm -= 300.0;
        mm += 3.0 * std::sin(0.7 * static_cast<double>(x * y));
        const bool hole = (x * 7 + y * 3 + i) % 11 == 0 || (y == 0 && x < 6) || (x == c.width - 1 && y > c.height / 2);
        image.pixels.push_back(hole ? 0 : static_cast<uint16_t>(mm));
      }
    data::write_png16(file, image);
    return file;
  }

  // What xmkd computes for an image: by default predict_image's logits.
  using Reference = std::function<Tensor(DeployedModel&, const std::string&)>;

  // Writes the case's ONNX file (with `xmkd export --model` when via_cli), runs it in OpenCV on
  // a batch of two images and returns max |OpenCV - reference| / max |reference|.
  double relative_difference_to_opencv(const OnnxCase& c, bool via_cli = false,
                                       const DeployableFactory& make = models::make_deployable,
                                       const Reference& reference = predict_image_logits) {
    const std::string capture = path("capture.txt");
    const std::string python = onnx_python(capture);
    if (python.empty()) return -1;
    DeployedModel model = save_and_load(c, make);
    const std::string onnx_file = path(c.name + ".onnx");
    std::string out;
    if (via_cli) {
      EXPECT_EQ(testing::run_xmkd("export --model '" + model.file + "' --format onnx", capture, &out), 0) << out;
    } else {
      write_onnx(model, onnx_file);
    }
    std::vector<float> batch, expected;
    Shape input_shape, logits_shape;
    for (int i = 0; i < 2; ++i) {
      const std::string image = write_image(c, i);
      const Tensor x = read_model_input(model, image);
      const std::vector<float> xv = x.to_vector<float>();
      batch.insert(batch.end(), xv.begin(), xv.end());
      input_shape = x.shape();
      const Tensor logits = reference(model, image);
      const std::vector<float> lv = logits.to_vector<float>();
      expected.insert(expected.end(), lv.begin(), lv.end());
      logits_shape = logits.shape();
    }
    input_shape[0] = 2;
    logits_shape[0] = 2;
    io::save_npy(path("input.npy"), Tensor::from_vector(batch, input_shape));
    const std::string command = "'" + python + "' '" + XMKD_SOURCE_DIR + "/tests/e2e/onnx_check.py' '" + onnx_file +
                                "' '" + path("input.npy") + "' '" + path("output.npy") + "'";
    EXPECT_EQ(testing::run_command(command, capture, &out), 0) << out;
    if (::testing::Test::HasFailure()) return -1;
    const Tensor got = io::load_npy(path("output.npy"));
    EXPECT_EQ(got.shape(), logits_shape) << c.name;
    if (got.shape() != logits_shape) return -1;
    const std::vector<float> g = got.to_vector<float>();
    double diff = 0, scale = 1e-30;
    for (size_t k = 0; k < g.size(); ++k) {
      diff = std::max(diff, std::fabs(static_cast<double>(g[k]) - expected[k]));
      scale = std::max(scale, std::fabs(static_cast<double>(expected[k])));
    }
    std::printf("%s: max |OpenCV - xmkd| = %.3g at logit scale %.3g (relative %.3g)\n", c.name.c_str(), diff, scale,
                diff / scale);
    return diff / scale;
  }

  static Tensor predict_image_logits(DeployedModel& model, const std::string& image) {
    return predict_image(model, image);
  }

  void expect_matches_opencv(const OnnxCase& c, bool via_cli = false,
                             const DeployableFactory& make = models::make_deployable,
                             const Reference& reference = predict_image_logits) {
    const double relative = relative_difference_to_opencv(c, via_cli, make, reference);
    if (relative < 0 && !::testing::Test::HasFailure()) {
      GTEST_SKIP() << "no python imports onnx, cv2 and numpy (apt-get install python3-onnx python3-opencv)";
    }
    EXPECT_LE(relative, kRelativeTolerance) << c.name;
  }

  testing::TempDir dir_{"xmkd_onnx"};
};

data::DepthEncoding relief(int64_t window, bool fill_holes) {
  data::DepthEncoding e = data::default_depth_encoding(data::DepthEncodingKind::Relief);
  e.window = window;
  e.fill_holes = fill_holes;
  return e;
}

// Classification takes any image size: 40 x 56 is no multiple of the network's stride.
TEST_F(OnnxExport, ResNet18ClassifierOnRgbMatchesOpenCV) {
  expect_matches_opencv({"resnet18_rgb", std::make_shared<models::ResNet18ClassifierDeployable>(3, 3),
                         data::Task::Classification, 0, {}, 40, 56});
}

TEST_F(OnnxExport, ResNet18ClassifierOnReliefDepthMatchesOpenCV) {
  expect_matches_opencv({"resnet18_relief", std::make_shared<models::ResNet18ClassifierDeployable>(1, 3),
                         data::Task::Classification, 1, relief(5, true), 48, 64});
}

TEST_F(OnnxExport, SegmenterOnRgbMatchesOpenCVThroughTheProgram) {
  expect_matches_opencv(
      {"segmenter_rgb", std::make_shared<models::SegmenterDeployable>(3, 3), data::Task::Segmentation, 0, {}, 64, 96},
      /*via_cli=*/true);
}

TEST_F(OnnxExport, DiscomBranchOnMarkedReliefDepthMatchesOpenCV) {
  expect_matches_opencv({"discom_relief",
                         std::make_shared<models::DiscomBranch>(1, 3, models::DiscomRepresentation::Both),
                         data::Task::Classification, 1, relief(7, false), 40, 40});
}

TEST_F(OnnxExport, CrodinoBranchOnRgbMatchesOpenCV) {
  expect_matches_opencv({"crodino_rgb", std::make_shared<models::CrodinoBranch>(3, 3, 32), data::Task::Segmentation, 0,
                         {}, 64, 32});
}

TEST_F(OnnxExport, AnySegBranchOnMetricDepthMatchesOpenCV) {
  const models::DeploySpec spec{"anyseg_branch", {{"in_channels", 1}, {"num_classes", 3}}};
  expect_matches_opencv({"anyseg_depth", models::make_anyseg_branch(spec), data::Task::Segmentation, 1, {}, 32, 64});
}

// The network an ONNX graph of the preprocessing alone is made of: it passes its input on.
class PassThrough : public models::Deployable {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  models::DeploySpec spec() const override { return {"pass_through", {{"in_channels", 1}, {"num_classes", 1}}}; }
  models::GraphValue describe(models::GraphBuilder&, models::GraphValue x) override { return x; }
};

std::shared_ptr<models::Deployable> make_pass_through(const models::DeploySpec&) {
  return std::make_shared<PassThrough>();
}

// The relief encoding in the graph against the library's (data/depth_encoding.cpp) directly,
// pixel by pixel, holes and image borders included: a network averages small input errors away.
TEST_F(OnnxExport, ReliefEncodingInTheGraphMatchesTheLibrary) {
  auto encoded = [](DeployedModel& model, const std::string& image) {
    return normalise_input(model, encode_input(model, read_model_input(model, image)));
  };
  for (const auto& [window, fill] : {std::pair<int64_t, bool>{5, true}, {7, false}, {1, true}}) {
    const std::string name = "relief_" + std::to_string(window) + (fill ? "_fill" : "_mark");
    expect_matches_opencv({name, std::make_shared<PassThrough>(), data::Task::Segmentation, 1, relief(window, fill), 30,
                           37},
                          false, make_pass_through, encoded);
    if (IsSkipped()) return;
  }
}

// The graph itself, without Python: the preprocessing, one node per layer, the state dict as
// initializers, the input and output shapes, the metadata.
TEST_F(OnnxExport, ClassifierGraphHasTheNetworksLayersAndWeights) {
  OnnxCase c{"resnet18_rgb", std::make_shared<models::ResNet18ClassifierDeployable>(3, 3), data::Task::Classification,
             0, {}};
  DeployedModel model = save_and_load(c);
  write_onnx(model, path("classifier.onnx"));
  const OnnxSummary s = read_onnx_summary(path("classifier.onnx"));
  EXPECT_EQ(s.opset, kOnnxOpset);
  auto count = [&](const char* op) { return std::count(s.ops.begin(), s.ops.end(), op); };
  // conv1, 8 blocks x 2 convs, 3 downsample convs; a batch norm each; a ReLU after the stem and
  // after each block's first conv and its sum.
  EXPECT_EQ(count("Conv"), 20);
  EXPECT_EQ(count("BatchNormalization"), 20);
  EXPECT_EQ(count("Relu"), 17);
  EXPECT_EQ(count("Add"), 8);
  EXPECT_EQ(count("MaxPool"), 1);
  EXPECT_EQ(count("GlobalAveragePool"), 1);
  EXPECT_EQ(count("Gemm"), 1);
  EXPECT_EQ(s.ops.size(), 20u + 20 + 17 + 8 + 1 + 1 + 1 + 1 /*Flatten*/ + 2 /*Sub, Div*/);
  EXPECT_EQ(s.ops[0], "Sub");   // the normalisation comes first
  EXPECT_EQ(s.ops[1], "Div");
  // Every float tensor of the state dict under its own name and shape (num_batches_tracked is
  // training bookkeeping), and the normalisation constants.
  size_t weights = 0;
  for (const auto& [name, t] : model.module->state_dict()) {
    if (t.dtype() != DType::Float32) continue;
    ++weights;
    ASSERT_TRUE(s.initializers.count(name)) << name;
    EXPECT_EQ(s.initializers.at(name), t.shape()) << name;
  }
  EXPECT_EQ(s.initializers.size(), weights + 2);
  EXPECT_EQ(s.initializers.at("normalize.mean"), (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(s.input, "input");
  EXPECT_EQ(s.output, "logits");
  EXPECT_EQ(s.input_dims, (std::vector<std::string>{"N", "3", "H", "W"}));
  EXPECT_EQ(s.output_dims, (std::vector<std::string>{"N", "3"}));
  for (const auto& [key, value] : model.metadata) {
    EXPECT_EQ(s.metadata.count(key) ? s.metadata.at(key) : "", value) << key;
  }
  EXPECT_EQ(s.metadata.at(meta::kArchitecture), "resnet18_classifier");
  EXPECT_EQ(s.metadata.at(meta::kClassNames), R"(["box","cylinder","sphere"])");
  EXPECT_EQ(s.metadata.at(onnx_meta::kInGraph), R"(["normalize"])");
  EXPECT_EQ(s.metadata.at(onnx_meta::kSizeMultiple), "1");
  EXPECT_TRUE(contains(s.metadata.at(onnx_meta::kInput), "8-bit levels / 255")) << s.metadata.at(onnx_meta::kInput);
}

TEST_F(OnnxExport, ReliefAndSegmentationGraphs) {
  OnnxCase depth{"relief", std::make_shared<models::ResNet18ClassifierDeployable>(1, 3), data::Task::Classification, 1,
                 relief(5, false)};
  write_onnx(save_and_load(depth), path("relief.onnx"));
  OnnxSummary s = read_onnx_summary(path("relief.onnx"));
  EXPECT_EQ(s.input_dims, (std::vector<std::string>{"N", "1", "H", "W"}));   // the raw depth map
  EXPECT_EQ(s.ops[0], "Relu");
  EXPECT_EQ(s.ops[1], "Sign");
  EXPECT_EQ(std::count(s.ops.begin(), s.ops.end(), "Conv"), 22);   // the network's 20 and two box sums
  EXPECT_EQ(s.initializers.at("relief.box"), (std::vector<int64_t>{1, 1, 5, 5}));
  EXPECT_TRUE(s.initializers.count("relief.hole"));   // marked holes
  EXPECT_EQ(s.metadata.at(onnx_meta::kInGraph), R"(["depth_encoding","normalize"])");
  EXPECT_EQ(s.metadata.at(meta::kDepthEncoding), R"({"clip":0.2,"holes":"mark","name":"relief","window":5})");

  // Normals are not in the graph: its input is the encoded 3-channel map.
  OnnxCase normals{"normals", std::make_shared<models::ResNet18ClassifierDeployable>(3, 3), data::Task::Classification,
                   1, data::default_depth_encoding(data::DepthEncodingKind::Normals)};
  write_onnx(save_and_load(normals), path("normals.onnx"));
  s = read_onnx_summary(path("normals.onnx"));
  EXPECT_EQ(s.input_dims, (std::vector<std::string>{"N", "3", "H", "W"}));
  EXPECT_EQ(s.ops[0], "Sub");
  EXPECT_EQ(s.metadata.at(onnx_meta::kInGraph), R"(["normalize"])");
  EXPECT_TRUE(contains(s.metadata.at(onnx_meta::kInput), "normals(window=3")) << s.metadata.at(onnx_meta::kInput);

  OnnxCase seg{"segmenter", std::make_shared<models::SegmenterDeployable>(3, 5), data::Task::Segmentation, 0, {}};
  write_onnx(save_and_load(seg), path("segmenter.onnx"));
  s = read_onnx_summary(path("segmenter.onnx"));
  EXPECT_EQ(std::count(s.ops.begin(), s.ops.end(), "Resize"), 4);   // three decoder stages and the output
  EXPECT_EQ(std::count(s.ops.begin(), s.ops.end(), "Concat"), 3);
  EXPECT_EQ(s.output_dims, (std::vector<std::string>{"N", "5", "H", "W"}));
  EXPECT_EQ(s.metadata.at(onnx_meta::kSizeMultiple), "32");
}

// As forward(), the graph of an ablated DisCoM-KD branch runs only the encoder its classifier reads.
TEST_F(OnnxExport, DiscomBranchGraphHoldsOnlyTheEncodersItsClassifierReads) {
  for (const auto representation : {models::DiscomRepresentation::InvOnly, models::DiscomRepresentation::InfOnly}) {
    const bool inv = representation == models::DiscomRepresentation::InvOnly;
    OnnxCase c{"discom", std::make_shared<models::DiscomBranch>(3, 3, representation), data::Task::Classification, 0, {}};
    write_onnx(save_and_load(c), path("discom.onnx"));
    const OnnxSummary s = read_onnx_summary(path("discom.onnx"));
    size_t inv_weights = 0, spec_weights = 0;
    for (const auto& [name, dims] : s.initializers) {
      inv_weights += name.rfind("enc_inv.", 0) == 0 || name.rfind("projection.", 0) == 0;
      spec_weights += name.rfind("enc_spec.", 0) == 0;
    }
    EXPECT_EQ(inv_weights > 0, inv) << models::representation_name(representation);
    EXPECT_EQ(spec_weights > 0, !inv) << models::representation_name(representation);
    EXPECT_EQ(std::count(s.ops.begin(), s.ops.end(), "Slice"), inv ? 0 : 1);   // z_inf: the first half
    EXPECT_EQ(std::count(s.ops.begin(), s.ops.end(), "Gemm"), inv ? 2 : 1);    // the projection, the classifier
    EXPECT_EQ(s.initializers.at("classifier.weight"), (std::vector<int64_t>{3, 256}));
  }
}

TEST_F(OnnxExport, ErrorsNameTheArchitectureAndTheFile) {
  // A deployable without describe() (any network outside the registry) is refused by name.
  class Opaque : public models::Deployable {
   public:
    Tensor forward(const Tensor& x) override { return x; }
    models::DeploySpec spec() const override { return {"opaque", {}}; }
  };
  DeployedModel model;
  model.file = "opaque.safetensors";
  model.channels = 3;
  model.mean = {0, 0, 0};
  model.std = {1, 1, 1};
  model.spec = {"opaque", {}};
  model.module = std::make_shared<Opaque>();
  std::string message = error_message([&] { write_onnx(model, path("opaque.onnx")); });
  EXPECT_TRUE(contains(message, "architecture 'opaque' cannot be described as a graph")) << message;
  EXPECT_FALSE(std::filesystem::exists(path("opaque.onnx")));

  std::FILE* f = std::fopen(path("junk.onnx").c_str(), "wb");
  std::fputs("not a protobuf", f);
  std::fclose(f);
  message = error_message([&] { read_onnx_summary(path("junk.onnx")); });
  EXPECT_TRUE(contains(message, "junk.onnx")) << message;

  std::string out;
  EXPECT_EQ(testing::run_xmkd("export --model '" + path("x.safetensors") + "'", path("cli.txt"), &out), 1) << out;
  EXPECT_TRUE(contains(out, "give --format onnx")) << out;
  EXPECT_EQ(testing::run_xmkd("export --format onnx", path("cli.txt"), &out), 2) << out;
  EXPECT_TRUE(contains(out, "--run")) << out;
}

}  // namespace
}  // namespace xmkd::train
