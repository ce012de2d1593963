// `xmkd parity` end to end: the built binary on small generated cases in a temporary directory.
// Its output must hold logits, loss, grad.<every parameter> and state.<every buffer>, and agree
// with the same computation done in this process; bad inputs must fail naming the file and key.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "models/resnet18.h"
#include "models/segmenter.h"
#include "tests/support/deterministic.h"
#include "tests/support/gradcheck.h"
#include "tests/support/temp_dir.h"

namespace xmkd {
namespace {

namespace fs = std::filesystem;

class ParityCli : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }

  // Runs `xmkd parity <args>`; returns the exit status, stderr in *err.
  int run(const std::string& args, std::string* err = nullptr) const {
    const std::string command =
        std::string("'") + XMKD_BINARY + "' parity " + args + " > '" + path("stdout.txt") + "' 2> '" + path("stderr.txt") + "'";
    const int status = std::system(command.c_str());
    if (err) {
      std::ifstream in(path("stderr.txt"));
      std::stringstream text;
      text << in.rdbuf();
      *err = text.str();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::TempDir dir_{"xmkd_parity"};
};

std::set<std::string> expected_keys(const Module& model) {
  std::set<std::string> keys{"logits", "loss"};
  for (const auto& [name, p] : model.named_parameters()) keys.insert("grad." + name);
  for (const auto& [name, b] : model.named_buffers()) keys.insert("state." + name);
  return keys;
}

std::set<std::string> keys_of(const TensorMap& tensors) {
  std::set<std::string> keys;
  for (const auto& [key, t] : tensors) keys.insert(key);
  return keys;
}

TEST_F(ParityCli, ResNetTrainStepMatchesInProcess) {
  models::ResNet18 model(1, 3);
  testing::deterministic_init(model);
  io::save_safetensors(path("weights.safetensors"), model.state_dict());
  Generator gen(7);
  Tensor x = testing::random_normal({2, 1, 32, 32}, gen);
  Tensor labels = Tensor::from_vector<int64_t>({2, -100}, {2});   // -100: ignored by default
  io::save_safetensors(path("input.safetensors"), {{"input", x}});
  io::save_safetensors(path("labels.safetensors"), {{"labels", labels}});

  std::string err;
  ASSERT_EQ(run("--model resnet18 --weights " + path("weights.safetensors") + " --input " + path("input.safetensors") +
                    " --labels " + path("labels.safetensors") + " --out " + path("out.safetensors"),
                &err),
            0)
      << err;
  TensorMap out = io::load_safetensors(path("out.safetensors"));
  EXPECT_EQ(keys_of(out), expected_keys(model));

  model.train();
  Tensor loss = cross_entropy(model.forward(x), labels);
  loss.backward();
  EXPECT_EQ(out["loss"].numel(), 1);
  EXPECT_NEAR(out["loss"].item(), loss.item(), 1e-6 * std::abs(loss.item()));
  testing::expect_close(out["grad.conv1.weight"], model.named_parameters()[0].second.grad(), 1e-7, 1e-5,
                        "grad.conv1.weight");
  // Train mode: the running statistics moved, as in this process.
  TensorMap state = model.state_dict();
  testing::expect_close(out["state.bn1.running_mean"], state["bn1.running_mean"], 1e-7, 1e-5, "running_mean");
  EXPECT_EQ(out["state.bn1.num_batches_tracked"].to_vector<int64_t>(), std::vector<int64_t>{1});
}

TEST_F(ParityCli, IgnoreIndexOptionIsUsed) {
  models::ResNet18 model(1, 3);
  testing::deterministic_init(model);
  io::save_safetensors(path("weights.safetensors"), model.state_dict());
  Generator gen(8);
  Tensor x = testing::random_normal({2, 1, 32, 32}, gen);
  Tensor labels = Tensor::from_vector<int32_t>({0, 1}, {2});   // int32 accepted too
  io::save_safetensors(path("input.safetensors"), {{"input", x}});
  io::save_npy(path("labels.npy"), labels);

  ASSERT_EQ(run("--model resnet18 --weights " + path("weights.safetensors") + " --input " + path("input.safetensors") +
                " --labels " + path("labels.npy") + " --ignore-index 1 --out " + path("out.safetensors")),
            0);
  CrossEntropyOptions ce;
  ce.ignore_index = 1;
  model.train();
  Tensor loss = cross_entropy(model.forward(x), labels, ce);
  EXPECT_NEAR(io::load_safetensors(path("out.safetensors"))["loss"].item(), loss.item(), 1e-6 * std::abs(loss.item()));
}

TEST_F(ParityCli, SegmenterEvalModeFromNpyFiles) {
  models::Segmenter model(3, 4, {32, 16, 8});   // the decoder widths are read back from the weights
  testing::deterministic_init(model);
  io::save_safetensors(path("weights.safetensors"), model.state_dict());
  Generator gen(9);
  Tensor x = testing::random_normal({1, 3, 32, 32}, gen);
  Tensor labels = testing::random_labels({1, 32, 32}, 4, gen, 100, 255);
  io::save_npy(path("input.npy"), x);
  io::save_npy(path("labels.npy"), labels);

  std::string err;
  ASSERT_EQ(run("--model segmenter --eval --weights " + path("weights.safetensors") + " --input " + path("input.npy") +
                    " --labels " + path("labels.npy") + " --out " + path("out.safetensors"),
                &err),
            0)
      << err;
  TensorMap out = io::load_safetensors(path("out.safetensors"));
  EXPECT_EQ(keys_of(out), expected_keys(model));
  EXPECT_EQ(out["logits"].shape(), (Shape{1, 4, 32, 32}));

  model.eval();
  CrossEntropyOptions ce;
  ce.ignore_index = 255;   // the segmenter's default
  Tensor loss = cross_entropy(model.forward(x), labels, ce);
  EXPECT_NEAR(out["loss"].item(), loss.item(), 1e-6 * std::abs(loss.item()));
  // Eval mode: the running statistics are the ones loaded.
  TensorMap state = model.state_dict();
  EXPECT_EQ(out["state.decoder.stages.1.bn.running_var"].to_vector<float>(),
            state["decoder.stages.1.bn.running_var"].to_vector<float>());
}

TEST_F(ParityCli, BadInputsNameTheFileAndKey) {
  models::ResNet18 model(3, 2);
  testing::deterministic_init(model);
  io::save_safetensors(path("weights.safetensors"), model.state_dict());
  Generator gen(10);
  io::save_safetensors(path("wrong_key.safetensors"), {{"images", testing::random_normal({1, 3, 32, 32}, gen)}});
  io::save_safetensors(path("one_channel.safetensors"), {{"input", testing::random_normal({1, 1, 32, 32}, gen)}});
  io::save_safetensors(path("input.safetensors"), {{"input", testing::random_normal({1, 3, 32, 32}, gen)}});
  io::save_safetensors(path("float_labels.safetensors"), {{"labels", Tensor::zeros({1})}});
  io::save_safetensors(path("labels.safetensors"), {{"labels", Tensor::from_vector<int64_t>({1}, {1})}});
  TensorMap partial = model.state_dict();
  partial.erase("fc.weight");
  io::save_safetensors(path("no_fc.safetensors"), partial);
  const std::string weights = " --weights " + path("weights.safetensors"), out = " --out " + path("out.safetensors");

  auto expect_failure = [&](const std::string& args, const std::string& file, const std::string& also) {
    std::string err;
    EXPECT_NE(run("--model resnet18" + args + out, &err), 0) << args;
    EXPECT_NE(err.find(file), std::string::npos) << err;
    EXPECT_NE(err.find(also), std::string::npos) << err;
  };
  expect_failure(weights + " --input " + path("wrong_key.safetensors") + " --labels " + path("labels.safetensors"),
                 path("wrong_key.safetensors"), "no tensor named 'input'");
  expect_failure(weights + " --input " + path("one_channel.safetensors") + " --labels " + path("labels.safetensors"),
                 path("one_channel.safetensors"), "1 channels");
  expect_failure(weights + " --input " + path("input.safetensors") + " --labels " + path("float_labels.safetensors"),
                 path("float_labels.safetensors"), "int64 or int32");
  expect_failure(" --weights " + path("no_fc.safetensors") + " --input " + path("input.safetensors") + " --labels " +
                     path("labels.safetensors"),
                 path("no_fc.safetensors"), "fc.weight");
  expect_failure(" --weights " + path("missing.safetensors") + " --input " + path("input.safetensors") + " --labels " +
                     path("labels.safetensors"),
                 path("missing.safetensors"), "cannot open");
  EXPECT_FALSE(fs::exists(path("out.safetensors")));
}

}  // namespace
}  // namespace xmkd
