// export_deployable / load_deployed / predict_image round trips on a tiny method defined here:
// the exported file carries the weights of the run's best checkpoint and the metadata predict
// needs, and predict's logits equal the module's forward on the same normalised image. Then the
// errors (an output that is not a single-modality network, a wrong channel count, a missing
// metadata key) and the `xmkd export` / `xmkd predict` programs themselves.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "engine/autograd.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "models/baselines.h"
#include "tests/support/errors.h"
#include "tests/support/run_cli.h"
#include "tests/support/temp_dir.h"
#include "tools/train/export.h"
#include "tools/train/run_info.h"
#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

namespace fs = std::filesystem;
using xmkd::testing::contains;
using xmkd::testing::error_message;

// A 1x1 convolution to class scores, averaged over the image for classification.
class TinyNet : public models::Deployable {
 public:
  TinyNet(int64_t in_channels, int64_t classes, bool segmentation)
      : in_(in_channels), classes_(classes), segmentation_(segmentation) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(in_channels, classes, 1));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = conv_->forward(x);
    return segmentation_ ? y : global_avg_pool(y);
  }
  models::DeploySpec spec() const override {
    return {segmentation_ ? "tiny_segmenter" : "tiny_classifier", {{"in_channels", in_}, {"num_classes", classes_}}};
  }
  // Distinct, known weights so a test can tell them from a fresh initialisation.
  void fill(float offset) {
    std::vector<float> w = conv_->weight.to_vector<float>(), b = conv_->bias.to_vector<float>();
    for (size_t i = 0; i < w.size(); ++i) w[i] = offset + 0.1f * static_cast<float>(i % 7) - 0.3f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = 0.05f * static_cast<float>(i);
    conv_->weight.copy_from(Tensor::from_vector(w, conv_->weight.shape()));
    conv_->bias.copy_from(Tensor::from_vector(b, conv_->bias.shape()));
  }

 private:
  int64_t in_, classes_;
  bool segmentation_;
  std::shared_ptr<nn::Conv2d> conv_;
};

std::shared_ptr<models::Deployable> make_tiny(const models::DeploySpec& spec) {
  XMKD_CHECK(spec.architecture == "tiny_classifier" || spec.architecture == "tiny_segmenter", "unknown architecture '",
             spec.architecture, "'");
  return std::make_shared<TinyNet>(spec.sizes.at("in_channels"), spec.sizes.at("num_classes"),
                                   spec.architecture == "tiny_segmenter");
}

// One network per modality (rgb: 3 channels, depth: 1) and a fused output that is not exportable.
class TinyMethod : public models::Method {
 public:
  TinyMethod(int64_t classes, bool segmentation, int64_t depth_channels = 1) {
    rgb_ = register_module("rgb", std::make_shared<TinyNet>(3, classes, segmentation));
    depth_ = register_module("depth", std::make_shared<TinyNet>(depth_channels, classes, segmentation));
  }
  std::string name() const override { return "tiny"; }
  std::vector<models::MethodOutput> outputs() const override {
    return {{"rgb", 0, {0}}, {"depth", 0, {1}}, {"fused", 0, {0, 1}}};
  }
  LossTerms training_loss(const data::Batch&, const TrainProgress&) override { fail("TinyMethod: not trained"); }
  std::vector<Tensor> predict(const data::Batch&) override { fail("TinyMethod: predict unused"); }
  Module& checkpoint_module(const std::string& output) override {
    if (output == "rgb") return *rgb_;
    if (output == "depth") return *depth_;
    return *this;
  }
  std::shared_ptr<models::Deployable> deployable(const std::string& output) override {
    if (output == "rgb") return rgb_;
    if (output == "depth") return depth_;
    return nullptr;
  }
  std::shared_ptr<TinyNet> rgb_, depth_;
};

class ExportPredict : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }

  // A run directory whose best checkpoints hold a trained method's weights (fill offsets 1 and 2).
  // With a depth encoding, the depth network reads the encoding's channels.
  std::string make_run(data::Task task, std::vector<std::string> class_names,
                       const data::DepthEncoding& encoding = {}) {
    const std::string run = path("run");
    fs::create_directories(run + "/best");
    RunInfo info;
    info.task = task;
    info.num_classes = 3;
    const int64_t depth_channels = encoding.channels();
    info.modalities = {{"rgb", 3}, {"depth", depth_channels}};
    info.normalization.mean = {{0.5f, 0.4f, 0.3f}, std::vector<float>(static_cast<size_t>(depth_channels), 2.0f)};
    info.normalization.std = {{0.25f, 0.2f, 0.5f}, std::vector<float>(static_cast<size_t>(depth_channels), 1.5f)};
    info.class_names = std::move(class_names);
    info.depth_encoding = encoding;
    write_run_info(run, info);
    TinyMethod trained(3, task == data::Task::Segmentation, depth_channels);
    trained.rgb_->fill(1.0f);
    trained.depth_->fill(2.0f);
    const std::map<std::string, std::string> best = {
        {meta::kEpoch, "7"}, {meta::kMetric, "weighted_f1"}, {meta::kValue, "0.8125"}};
    io::save_safetensors(run + "/best/rgb.safetensors", trained.rgb_->state_dict(), best);
    io::save_safetensors(run + "/best/depth.safetensors", trained.depth_->state_dict(), best);
    trained_rgb_ = trained.rgb_->state_dict();
    return run;
  }

  // An 8-bit image of `channels` channels with varied values.
  std::string write_image8(const std::string& name, int64_t channels, int64_t h = 6, int64_t w = 5) {
    data::Image image;
    image.height = h, image.width = w, image.channels = channels, image.bit_depth = 8;
    for (int64_t i = 0; i < h * w * channels; ++i) image.pixels.push_back(static_cast<uint16_t>((i * 37 + 11) % 256));
    data::write_png8(path(name), image);
    return path(name);
  }

  // `xmkd <args>`: the exit status, with stdout and stderr in *out.
  int run_cli(const std::string& args, std::string* out) const { return testing::run_xmkd(args, path("cli.txt"), out); }

  testing::TempDir dir_{"xmkd_export"};
  TensorMap trained_rgb_;
};

// (x - mean[c]) / std[c] over a (1, C, H, W) tensor, written out here independently.
Tensor normalised(const Tensor& x, const std::vector<float>& mean, const std::vector<float>& std) {
  std::vector<float> v = x.to_vector<float>();
  const int64_t plane = x.dim(2) * x.dim(3);
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = i / static_cast<size_t>(plane);
    v[i] = (v[i] - mean[c]) / std[c];
  }
  return Tensor::from_vector(v, x.shape());
}

TEST_F(ExportPredict, ClassifierRoundTripMatchesForward) {
  const std::string run = make_run(data::Task::Classification, {"cat", "dog", "bird"});
  TinyMethod fresh(3, false);   // the export loads the best checkpoint into it
  const std::string file = default_export_path(run, "rgb");
  EXPECT_EQ(file, run + "/export/rgb.safetensors");
  export_deployable(fresh, "rgb", run, file);

  std::map<std::string, std::string> md;
  const TensorMap weights = io::load_safetensors(file, &md);
  EXPECT_EQ(md.at(meta::kArchitecture), "tiny_classifier");
  EXPECT_EQ(md.at(meta::kSizes), R"({"in_channels":3,"num_classes":3})");
  EXPECT_EQ(md.at(meta::kTask), "classification");
  EXPECT_EQ(md.at(meta::kModality), "rgb");
  EXPECT_EQ(md.at(meta::kChannels), "3");
  EXPECT_EQ(md.at(meta::kMean), "[0.5,0.4,0.3]");
  EXPECT_EQ(md.at(meta::kStd), "[0.25,0.2,0.5]");
  EXPECT_EQ(md.at(meta::kClassNames), R"(["cat","dog","bird"])");
  EXPECT_EQ(md.at(meta::kOutput), "rgb");
  EXPECT_EQ(md.at(meta::kMethod), "tiny");
  EXPECT_EQ(md.at(meta::kEpoch), "7");
  EXPECT_EQ(md.at(meta::kMetric), "weighted_f1");
  EXPECT_EQ(md.at(meta::kValue), "0.8125");
  ASSERT_EQ(weights.size(), trained_rgb_.size());
  for (const auto& [name, t] : trained_rgb_) EXPECT_EQ(weights.at(name).to_vector<float>(), t.to_vector<float>()) << name;

  DeployedModel model = load_deployed(file, make_tiny);
  EXPECT_EQ(model.channels, 3);
  EXPECT_EQ(model.modality, "rgb");
  EXPECT_EQ(model.class_names, (std::vector<std::string>{"cat", "dog", "bird"}));
  const std::string image = write_image8("in.png", 3);
  const Tensor logits = predict_image(model, image);
  ASSERT_EQ(logits.shape(), (Shape{1, 3}));

  const data::Image decoded = data::read_image(image);
  std::vector<float> x(3 * 6 * 5);
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < 30; ++i) x[c * 30 + i] = static_cast<float>(decoded.pixels[i * 3 + c]) / 255.0f;
  }
  TinyNet reference(3, 3, false);
  reference.load_state_dict(trained_rgb_);
  Tensor expected;
  {
    NoGradGuard no_grad;
    expected = reference.forward(normalised(Tensor::from_vector(x, {1, 3, 6, 5}), model.mean, model.std));
  }
  const std::vector<float> got = logits.to_vector<float>(), want = expected.to_vector<float>();
  // The reader scales by 1/255 where this divides by 255: inputs may differ by an ulp.
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << i;

  // The top classes are the softmax of the logits, best first, named.
  const std::vector<ClassScore> top = top_classes(logits, model.class_names, 2);
  ASSERT_EQ(top.size(), 2u);
  std::vector<double> p(got.size());
  double sum = 0;
  for (size_t i = 0; i < got.size(); ++i) sum += (p[i] = std::exp(static_cast<double>(got[i])));
  std::vector<int64_t> order = {0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(top[k].index, order[k]);
    EXPECT_EQ(top[k].name, model.class_names[order[k]]);
    EXPECT_NEAR(top[k].score, p[order[k]] / sum, 1e-6);
  }
}

TEST_F(ExportPredict, SegmenterOnSixteenBitDepthInMetres) {
  const std::string run = make_run(data::Task::Segmentation, {});
  TinyMethod fresh(3, true);
  const std::string file = path("out/depth.safetensors");
  export_deployable(fresh, "depth", run, file);
  std::map<std::string, std::string> md;
  io::load_safetensors(file, &md);
  EXPECT_EQ(md.count(meta::kClassNames), 0u);
  EXPECT_EQ(md.at(meta::kStd), "[1.5]");

  data::Image depth;
  depth.height = 4, depth.width = 3, depth.channels = 1, depth.bit_depth = 16;
  for (int i = 0; i < 12; ++i) depth.pixels.push_back(static_cast<uint16_t>(i == 0 ? 0 : 500 + 250 * i));
  data::write_png16(path("depth.png"), depth);

  DeployedModel model = load_deployed(file, make_tiny);
  EXPECT_EQ(model.task, data::Task::Segmentation);
  const Tensor input = read_model_input(model, path("depth.png"));
  ASSERT_EQ(input.shape(), (Shape{1, 1, 4, 3}));
  EXPECT_FLOAT_EQ(input.to_vector<float>()[5], (500 + 250 * 5) * 0.001f);
  const Tensor logits = predict_image(model, path("depth.png"));
  ASSERT_EQ(logits.shape(), (Shape{1, 3, 4, 3}));
  Tensor expected;
  {
    NoGradGuard no_grad;
    expected = fresh.depth_->forward(normalised(input, {2.0f}, {1.5f}));
  }
  EXPECT_EQ(logits.to_vector<float>(), expected.to_vector<float>());

  const Tensor mask = predicted_mask(logits);
  ASSERT_EQ(mask.shape(), (Shape{4, 3}));
  const std::vector<ClassScore> shares = class_shares(mask, {});
  std::map<int64_t, int64_t> counts;
  for (int64_t c : mask.to_vector<int64_t>()) ++counts[c];
  ASSERT_EQ(shares.size(), counts.size());
  double total = 0;
  for (size_t k = 0; k < shares.size(); ++k) {
    EXPECT_EQ(shares[k].name, "class " + std::to_string(shares[k].index));
    EXPECT_DOUBLE_EQ(shares[k].score, counts.at(shares[k].index) / 12.0);
    if (k > 0) {
      EXPECT_GE(shares[k - 1].score, shares[k].score);
    }
    total += shares[k].score;
  }
  EXPECT_DOUBLE_EQ(total, 1.0);
  const data::Image colours = colourise_labels(mask);
  EXPECT_EQ(colours.width, 3);
  EXPECT_EQ(colours.height, 4);
}

// A depth network trained on normals: the run records the encoding, the export carries it, and
// predict reads the raw 16-bit PNG (one channel), encodes it and normalises it as training did.
TEST_F(ExportPredict, EncodedDepthNetworkEncodesTheRawDepthPng) {
  data::DepthEncoding normals = data::default_depth_encoding(data::DepthEncodingKind::Normals);
  normals.hfov_deg = 63.3f;
  const std::string run = make_run(data::Task::Segmentation, {}, normals);
  EXPECT_EQ(read_run_info(run).depth_encoding.describe(), normals.describe());
  TinyMethod fresh(3, true, 3);
  const std::string file = path("out/depth.safetensors");
  export_deployable(fresh, "depth", run, file);
  std::map<std::string, std::string> md;
  io::load_safetensors(file, &md);
  EXPECT_EQ(md.at(meta::kDepthEncoding), R"({"hfov_deg":63.3,"name":"normals","window":3})");
  EXPECT_EQ(md.at(meta::kChannels), "3");

  data::Image depth;
  depth.height = 5, depth.width = 6, depth.channels = 1, depth.bit_depth = 16;
  for (int i = 0; i < 30; ++i) depth.pixels.push_back(static_cast<uint16_t>(i == 7 ? 0 : 1500 + 40 * (i % 6) + 9 * (i / 6)));
  data::write_png16(path("depth.png"), depth);

  DeployedModel model = load_deployed(file, make_tiny);
  EXPECT_EQ(model.depth_encoding.describe(), normals.describe());
  const Tensor raw = read_model_input(model, path("depth.png"));
  ASSERT_EQ(raw.shape(), (Shape{1, 1, 5, 6}));
  const Tensor encoded = data::encode_depth(raw.view({1, 5, 6}), normals);
  const Tensor logits = predict_image(model, path("depth.png"));
  Tensor expected;
  {
    NoGradGuard no_grad;
    expected = fresh.depth_->forward(normalised(encoded.view({1, 3, 5, 6}), {2.0f, 2.0f, 2.0f}, {1.5f, 1.5f, 1.5f}));
  }
  EXPECT_EQ(logits.to_vector<float>(), expected.to_vector<float>());

  // A file whose recorded encoding disagrees with its channel count is named.
  md[meta::kDepthEncoding] = R"({"name":"metric"})";
  io::save_safetensors(path("bad.safetensors"), io::load_safetensors(file), md);
  const std::string message = error_message([&] { load_deployed(path("bad.safetensors"), make_tiny); });
  EXPECT_TRUE(contains(message, "bad.safetensors")) << message;
  EXPECT_TRUE(contains(message, meta::kDepthEncoding)) << message;
}

TEST_F(ExportPredict, ErrorsNameTheOutputTheFileAndTheKey) {
  const std::string run = make_run(data::Task::Classification, {});
  TinyMethod method(3, false);
  std::string message = error_message([&] { export_deployable(method, "fused", run, path("f.safetensors")); });
  EXPECT_TRUE(contains(message, "'fused'")) << message;
  EXPECT_TRUE(contains(message, "not a single-modality network")) << message;
  EXPECT_TRUE(contains(message, "rgb, depth")) << message;
  message = error_message([&] { export_deployable(method, "ir", run, path("f.safetensors")); });
  EXPECT_TRUE(contains(message, "no output 'ir'")) << message;
  EXPECT_TRUE(contains(message, "rgb, depth, fused")) << message;
  fs::remove(run + "/best/depth.safetensors");
  message = error_message([&] { export_deployable(method, "depth", run, path("f.safetensors")); });
  EXPECT_TRUE(contains(message, "best/depth.safetensors")) << message;

  const std::string file = path("rgb.safetensors");
  export_deployable(method, "rgb", run, file);
  DeployedModel model = load_deployed(file, make_tiny);
  const std::string grey = write_image8("grey.png", 1);
  message = error_message([&] { predict_image(model, grey); });
  EXPECT_TRUE(contains(message, grey)) << message;
  EXPECT_TRUE(contains(message, "has 1 channel(s)")) << message;
  EXPECT_TRUE(contains(message, "expects 3")) << message;

  std::map<std::string, std::string> md;
  TensorMap weights = io::load_safetensors(file, &md);
  md.erase(meta::kMean);
  io::save_safetensors(path("no_mean.safetensors"), weights, md);
  message = error_message([&] { load_deployed(path("no_mean.safetensors"), make_tiny); });
  EXPECT_TRUE(contains(message, "no_mean.safetensors")) << message;
  EXPECT_TRUE(contains(message, "xmkd.normalize_mean")) << message;

  md = {};
  io::load_safetensors(file, &md);
  md[meta::kChannels] = "three";
  io::save_safetensors(path("bad_channels.safetensors"), weights, md);
  message = error_message([&] { load_deployed(path("bad_channels.safetensors"), make_tiny); });
  EXPECT_TRUE(contains(message, "xmkd.channels")) << message;
  EXPECT_TRUE(contains(message, "'three'")) << message;
}

// Depth has no standard unit in an 8-bit image: predict refuses one unless told the metres per
// level, which then also rescales a 16-bit image; a scale given to a colour model is an error.
TEST_F(ExportPredict, DepthModelRefusesEightBitImagesUnlessScaled) {
  const std::string run = make_run(data::Task::Classification, {});
  TinyMethod method(3, false);
  export_deployable(method, "depth", run, path("depth.safetensors"));
  export_deployable(method, "rgb", run, path("rgb.safetensors"));
  DeployedModel depth = load_deployed(path("depth.safetensors"), make_tiny);
  const std::string grey = write_image8("grey.png", 1);
  std::string message = error_message([&] { predict_image(depth, grey); });
  EXPECT_TRUE(contains(message, grey)) << message;
  EXPECT_TRUE(contains(message, "8-bit")) << message;
  EXPECT_TRUE(contains(message, "--depth-scale")) << message;

  const std::vector<uint16_t> levels = data::read_image(grey).pixels;
  std::vector<float> got = read_model_input(depth, grey, 0.04f).to_vector<float>();
  ASSERT_EQ(got.size(), levels.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], levels[i] * 0.04f) << i;

  data::Image mm;
  mm.height = 2, mm.width = 2, mm.channels = 1, mm.bit_depth = 16;
  mm.pixels = {0, 1000, 2500, 65535};
  data::write_png16(path("tenth_mm.png"), mm);
  got = read_model_input(depth, path("tenth_mm.png"), 0.0001f).to_vector<float>();
  EXPECT_EQ(got, (std::vector<float>{0.0f, 1000 * 0.0001f, 2500 * 0.0001f, 65535 * 0.0001f}));

  DeployedModel rgb = load_deployed(path("rgb.safetensors"), make_tiny);
  message = error_message([&] { read_model_input(rgb, write_image8("colour.png", 3), 0.04f); });
  EXPECT_TRUE(contains(message, "--depth-scale) applies to a depth model")) << message;
  EXPECT_TRUE(contains(message, "'rgb'")) << message;
}

TEST_F(ExportPredict, InputsAreFilesAndFoldersOfImagesInNameOrder) {
  const std::string folder = path("images");
  fs::create_directories(folder + "/nested");
  for (const char* name : {"b.png", "a.JPG", "c.jpeg", "notes.txt", "nested/d.png"}) std::ofstream(folder + "/" + name) << "x";
  const std::string single = write_image8("single.png", 3);
  EXPECT_EQ(collect_inputs({single, folder}),
            (std::vector<std::string>{single, folder + "/a.JPG", folder + "/b.png", folder + "/c.jpeg"}));

  std::string message = error_message([&] { collect_inputs({path("missing.png")}); });
  EXPECT_TRUE(contains(message, "missing.png does not exist")) << message;
  fs::create_directories(path("empty"));
  message = error_message([&] { collect_inputs({path("empty")}); });
  EXPECT_TRUE(contains(message, "empty holds no .png, .jpg or .jpeg file")) << message;
}

// A network of the program's own registry, saved as `xmkd export` saves it: modality m of a run
// with an RGB (3-channel) and a depth (1-channel) input.
void save_deployable(models::Deployable& net, data::Task task, int64_t m, const std::string& file) {
  RunInfo info;
  info.task = task;
  info.num_classes = 3;
  info.modalities = {{"rgb", 3}, {"depth", 1}};
  info.normalization.mean = {{0.5f, 0.4f, 0.3f}, {2.0f}};
  info.normalization.std = {{0.25f, 0.2f, 0.5f}, {1.5f}};
  info.class_names = {"box", "cylinder", "sphere"};
  io::save_safetensors(file, net.state_dict(), deploy_metadata(info, m, net.spec()));
}

// `predict` over a folder: the table, JSON and CSV all carry the probabilities the library
// computes for each image, in name order.
TEST_F(ExportPredict, PredictProgramWritesTableJsonAndCsvForAFolder) {
  models::ResNet18ClassifierDeployable net(1, 3);
  const std::string model_file = path("depth.safetensors");
  save_deployable(net, data::Task::Classification, 1, model_file);
  const std::string folder = path("scenes");
  fs::create_directories(folder);
  std::vector<std::string> images;
  for (int s = 0; s < 2; ++s) {
    data::Image depth;
    depth.height = 16, depth.width = 16, depth.channels = 1, depth.bit_depth = 16;
    for (int i = 0; i < 256; ++i) depth.pixels.push_back(static_cast<uint16_t>(800 + (i * (13 + 40 * s)) % 3000));
    images.push_back(folder + "/scene" + std::to_string(s) + ".png");
    data::write_png16(images.back(), depth);
  }
  DeployedModel model = load_deployed(model_file);
  std::vector<std::vector<ClassScore>> expected;
  for (const std::string& image : images) expected.push_back(top_classes(predict_image(model, image), model.class_names, 3));

  std::string out;
  const std::string base = "predict --model '" + model_file + "' --input '" + folder + "' --top 3";
  ASSERT_EQ(run_cli(base + " --format json", &out), 0) << out;
  const nlohmann::json doc = nlohmann::json::parse(out);
  EXPECT_EQ(doc.at("architecture"), "resnet18_classifier");
  EXPECT_EQ(doc.at("task"), "classification");
  EXPECT_EQ(doc.at("modality"), "depth");
  ASSERT_EQ(doc.at("predictions").size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const nlohmann::json& p = doc["predictions"][i];
    EXPECT_EQ(p.at("input"), images[i]);
    ASSERT_EQ(p.at("classes").size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      const nlohmann::json& c = p["classes"][k];
      EXPECT_EQ(c.at("rank"), k + 1);
      EXPECT_EQ(c.at("index"), expected[i][k].index);
      EXPECT_EQ(c.at("class"), expected[i][k].name);
      EXPECT_NEAR(c.at("probability").get<double>(), expected[i][k].score, 1e-6);
    }
  }

  ASSERT_EQ(run_cli(base + " --format csv", &out), 0) << out;
  std::vector<std::string> lines;
  std::istringstream csv(out);
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 7u) << out;
  EXPECT_EQ(lines[0], "input,rank,index,class,probability");
  char row[512];
  std::snprintf(row, sizeof row, "%s,1,%lld,%s,%.6f", images[0].c_str(), static_cast<long long>(expected[0][0].index),
                expected[0][0].name.c_str(), expected[0][0].score);
  EXPECT_EQ(lines[1], row);

  // The table: a summary line, then columns padded so that every row ends at the same place.
  ASSERT_EQ(run_cli(base, &out), 0) << out;
  lines.clear();
  std::istringstream text(out);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 8u) << out;
  EXPECT_EQ(lines[0], model_file + ": resnet18_classifier on depth, 2 images");
  EXPECT_EQ(lines[1].rfind("input", 0), 0u) << out;
  for (size_t r = 2; r < lines.size(); ++r) EXPECT_EQ(lines[r].size(), lines[1].size()) << out;
  EXPECT_EQ(lines[2].rfind(images[0], 0), 0u) << out;
  EXPECT_EQ(lines[3].substr(0, images[0].size()), std::string(images[0].size(), ' ')) << out;   // not repeated

  // An 8-bit image as depth: refused with the option that reads it, accepted with it.
  const std::string grey = write_image8("grey.png", 1, 16, 16);
  EXPECT_EQ(run_cli("predict --model '" + model_file + "' --input '" + grey + "'", &out), 1) << out;
  EXPECT_TRUE(contains(out, "--depth-scale")) << out;
  EXPECT_EQ(run_cli("predict --model '" + model_file + "' --input '" + grey + "' --depth-scale 0.04", &out), 0) << out;
  EXPECT_EQ(run_cli(base + " --format xml", &out), 2) << out;
}

// Segmentation: one mask per image in the --out folder, named after the image, and the shares of
// its classes, which sum to one.
TEST_F(ExportPredict, PredictProgramWritesOneMaskPerImage) {
  models::SegmenterDeployable net(3, 3);
  const std::string model_file = path("rgb_seg.safetensors");
  save_deployable(net, data::Task::Segmentation, 0, model_file);
  fs::create_directories(path("photos"));
  const std::string a = write_image8("photos/a.png", 3, 32, 32), b = write_image8("photos/b.png", 3, 32, 32);
  std::string out;
  const std::string base = "predict --model '" + model_file + "' --input '" + path("photos") + "'";
  EXPECT_EQ(run_cli(base, &out), 1) << out;
  EXPECT_TRUE(contains(out, "--out")) << out;

  ASSERT_EQ(run_cli(base + " --out '" + path("masks") + "' --format json", &out), 0) << out;
  const nlohmann::json doc = nlohmann::json::parse(out);
  EXPECT_EQ(doc.at("task"), "segmentation");
  ASSERT_EQ(doc.at("predictions").size(), 2u);
  const std::vector<std::string> masks = {path("masks") + "/a.png", path("masks") + "/b.png"};
  DeployedModel model = load_deployed(model_file);
  for (size_t i = 0; i < 2; ++i) {
    const nlohmann::json& p = doc["predictions"][i];
    EXPECT_EQ(p.at("input"), i == 0 ? a : b);
    EXPECT_EQ(p.at("mask"), masks[i]);
    const data::Image mask = data::read_image(masks[i]);
    EXPECT_EQ(mask.width, 32);
    EXPECT_EQ(mask.height, 32);
    const std::vector<ClassScore> shares = class_shares(predicted_mask(predict_image(model, i == 0 ? a : b)), model.class_names);
    ASSERT_EQ(p.at("classes").size(), shares.size());
    double total = 0;
    for (size_t k = 0; k < shares.size(); ++k) {
      EXPECT_EQ(p["classes"][k].at("class"), shares[k].name);
      EXPECT_NEAR(p["classes"][k].at("share").get<double>(), shares[k].score, 1e-12);
      total += p["classes"][k].at("share").get<double>();
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }

  // Two images that would write the same mask file are an error, before anything is written.
  fs::create_directories(path("more"));
  const std::string twin = write_image8("more/a.png", 3, 32, 32);
  EXPECT_EQ(run_cli("predict --model '" + model_file + "' --input '" + a + "' '" + twin + "' --out '" + path("m2") + "'", &out), 1)
      << out;
  EXPECT_TRUE(contains(out, "would both write their mask")) << out;
  EXPECT_FALSE(fs::exists(path("m2")));
}

TEST_F(ExportPredict, ProgramsHaveHelpAndReportErrors) {
  std::string out;
  EXPECT_EQ(run_cli("export --help", &out), 0) << out;
  EXPECT_TRUE(contains(out, "--run")) << out;
  EXPECT_TRUE(contains(out, "--modality")) << out;
  EXPECT_EQ(run_cli("predict --help", &out), 0) << out;
  EXPECT_TRUE(contains(out, "--model")) << out;
  EXPECT_TRUE(contains(out, "--top")) << out;

  EXPECT_EQ(run_cli("export --run '" + path("nowhere") + "' --modality rgb", &out), 1) << out;
  EXPECT_TRUE(contains(out, "nowhere is not a directory")) << out;

  // The program's registry does not know this test's architecture: the error names the file and key.
  const std::string run = make_run(data::Task::Classification, {});
  TinyMethod method(3, false);
  export_deployable(method, "rgb", run, path("rgb.safetensors"));
  const std::string image = write_image8("in.png", 3);
  EXPECT_EQ(run_cli("predict --model '" + path("rgb.safetensors") + "' --input '" + image + "'", &out), 1) << out;
  EXPECT_TRUE(contains(out, "rgb.safetensors")) << out;
  EXPECT_TRUE(contains(out, "xmkd.architecture")) << out;
}

}  // namespace
}  // namespace xmkd::train
