// The trainer end to end on tiny synthetic data with a small test method (a batch-normalised
// linear probe per modality, or a 1x1-conv segmenter): the run directory, the metrics lines, the
// best checkpoints' metadata, bit-exact resumption (at an epoch boundary and mid-epoch), the stop
// on a non-finite loss, configuration errors, and the `xmkd train` / `xmkd eval` programs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "data/datasets.h"
#include "data/synthetic.h"
#include "models/methods.h"
#include "tests/support/errors.h"
#include "tests/support/temp_dir.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_setup.h"
#include "tools/train/run_info.h"
#include "tools/train/trainer.h"

namespace xmkd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::contains;
using testing::error_message;

// What a test asks of its method, besides training: raise the interrupt flag at a step or while
// validating, or turn the loss into NaN at a step. Epochs and steps are 0-based.
struct Hooks {
  std::atomic<bool>* flag = nullptr;
  int64_t interrupt_epoch = -1, interrupt_step = -1;
  bool interrupt_in_validation = false;
  int64_t nan_epoch = -1, nan_step = -1;
};

// One modality's deployable: BatchNorm2d on the input (so the state has running statistics),
// then a Linear on the global average (classification) or a 1x1 conv (segmentation).
class ProbeBranch : public models::Deployable {
 public:
  ProbeBranch(int64_t channels, int64_t classes, bool segment) : channels_(channels), classes_(classes), segment_(segment) {
    norm_ = register_module("norm", std::make_shared<nn::BatchNorm2d>(channels));
    if (segment) conv_ = register_module("head", std::make_shared<nn::Conv2d>(channels, classes, 1));
    else linear_ = register_module("head", std::make_shared<nn::Linear>(channels, classes));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = norm_->forward(x);
    return segment_ ? conv_->forward(h) : linear_->forward(global_avg_pool(h));
  }
  models::DeploySpec spec() const override { return {"probe", {{"in_channels", channels_}, {"num_classes", classes_}}}; }

 private:
  int64_t channels_, classes_;
  bool segment_;
  std::shared_ptr<nn::BatchNorm2d> norm_;
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::Linear> linear_;
};

// One output per modality; the loss is the sum of their cross-entropies on inputs with a little
// noise drawn from the step's generator (so the per-step randomness is part of what resumes).
class ProbeMethod : public models::Method {
 public:
  ProbeMethod(const models::MethodContext& context, Hooks hooks) : context_(context), hooks_(hooks) {
    segment_ = context.task == data::Task::Segmentation;
    for (const auto& spec : context.modalities)
      branches_.push_back(register_module(spec.name, std::make_shared<ProbeBranch>(spec.channels, context.num_classes, segment_)));
  }
  std::string name() const override { return "probe"; }
  std::vector<models::MethodOutput> outputs() const override {
    std::vector<models::MethodOutput> out;
    for (size_t m = 0; m < branches_.size(); ++m)
      out.push_back({context_.modalities[m].name, static_cast<int64_t>(m), {static_cast<int64_t>(m)}});
    return out;
  }
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& p) override {
    if (p.epoch == hooks_.interrupt_epoch && p.step == hooks_.interrupt_step) hooks_.flag->store(true);
    LossTerms terms;
    for (size_t m = 0; m < branches_.size(); ++m) {
      const Tensor& x = batch.inputs[m];
      Tensor logits = branches_[m]->forward(add(x, rand_normal(x.shape(), 0.0f, 0.05f, *p.gen, x.device())));
      CrossEntropyOptions options;
      options.ignore_index = data::kIgnoreLabel;
      Tensor ce = segment_ ? cross_entropy(logits, batch.label_maps[m], options) : cross_entropy(logits, batch.labels[m]);
      if (m == 0 && p.epoch == hooks_.nan_epoch && p.step == hooks_.nan_step)
        ce = scale(ce, std::numeric_limits<float>::quiet_NaN());
      terms.parts.emplace_back("ce_" + context_.modalities[m].name, ce.detach());
      terms.total = terms.total.defined() ? add(terms.total, ce) : ce;
    }
    return terms;
  }
  std::vector<Tensor> predict(const data::Batch& batch) override {
    if (hooks_.interrupt_in_validation) {
      hooks_.flag->store(true);
      hooks_.interrupt_in_validation = false;
    }
    std::vector<Tensor> out;
    for (size_t m = 0; m < branches_.size(); ++m) out.push_back(branches_[m]->forward(batch.inputs[m]));
    return out;
  }
  Module& checkpoint_module(const std::string& output) override { return *branch(output); }
  std::shared_ptr<models::Deployable> deployable(const std::string& output) override { return branch(output); }

 private:
  std::shared_ptr<ProbeBranch> branch(const std::string& output) const {
    return branches_[static_cast<size_t>(context_.modality_index(output))];
  }
  models::MethodContext context_;
  Hooks hooks_;
  bool segment_ = false;
  std::vector<std::shared_ptr<ProbeBranch>> branches_;
};

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return json::parse(in);
}

std::vector<json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every tensor of two safetensors files, bit for bit, and the same key sets.
void expect_identical_tensors(const std::string& a, const std::string& b) {
  const TensorMap ta = io::load_safetensors(a), tb = io::load_safetensors(b);
  ASSERT_EQ(ta.size(), tb.size()) << a << " vs " << b;
  for (const auto& [key, t] : ta) {
    ASSERT_TRUE(tb.count(key)) << key << " missing from " << b;
    const Tensor& u = tb.at(key);
    ASSERT_EQ(t.shape(), u.shape()) << key;
    ASSERT_EQ(t.dtype(), u.dtype()) << key;
    EXPECT_EQ(std::memcmp(t.raw_data(), u.raw_data(), t.nbytes()), 0) << key << " differs between " << a << " and " << b;
  }
}

json progress_of(const std::string& last) {
  std::map<std::string, std::string> metadata;
  io::load_safetensors(last, &metadata);
  return json::parse(metadata.at(train::kProgressKey));
}

class TrainerTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }

  // 60 samples of 32x32, 8 classes: 5 per class train (40: 5 batches of 8), 8 val, 12 test.
  json config(const std::string& run, const std::string& task = "classification") const {
    return {{"name", "tiny"},
            {"seed", 3},
            {"data", {{"format", "synthetic"}, {"task", task}, {"size", 32}, {"count", 60}, {"seed", 1}}},
            {"augment", {{"hflip", 0.5}, {"rot90", 0.5}}},
            {"method", {{"name", "probe"}}},
            {"train",
             {{"epochs", 2},
              {"batch_size", 8},
              {"workers", 0},
              {"optimizer", {{"name", "adam"}, {"lr", 0.05}}},
              {"schedule", {{"name", "cosine"}, {"unit", "step"}}}}},
            {"run", {{"dir", path(run)}}}};
  }

  train::TrainerOptions options(Hooks hooks = {}) {
    flag_.store(false);
    hooks.flag = &flag_;
    train::TrainerOptions o;
    o.make_method = [hooks](const io::ConfigNode&, const models::MethodContext& context) {
      return std::make_shared<ProbeMethod>(context, hooks);
    };
    o.interrupt = &flag_;
    o.print_evaluation = false;
    return o;
  }

  train::TrainStatus train(const json& cfg, Hooks hooks = {}) {
    train::Trainer trainer(io::Config::from_json(cfg, "tiny.json"), options(hooks));
    return trainer.run();
  }
  train::TrainStatus resume(const std::string& run) {
    return train::Trainer::resume(path(run), options())->run();
  }

  // Exit status of `xmkd <args>`, with its stdout and stderr.
  int run_program(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) const {
    const std::string command =
        std::string("'") + XMKD_BINARY + "' " + args + " > '" + path("stdout.txt") + "' 2> '" + path("stderr.txt") + "'";
    const int status = std::system(command.c_str());
    if (out) *out = read_text(path("stdout.txt"));
    if (err) *err = read_text(path("stderr.txt"));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::TempDir dir_{"xmkd_trainer"};
  std::atomic<bool> flag_{false};
};

TEST_F(TrainerTest, WritesTheRunDirectory) {
  ASSERT_EQ(train(config("run")), train::TrainStatus::Finished);
  const train::RunFiles files{path("run")};

  // The resolved configuration: given keys and defaults.
  const json resolved = read_json(files.config());
  EXPECT_EQ(resolved["train"]["epochs"], 2);
  EXPECT_EQ(resolved["train"]["optimizer"]["lr"], 0.05);
  EXPECT_EQ(resolved["train"]["optimizer"]["betas"], json({0.9, 0.999}));   // a default
  EXPECT_EQ(resolved["train"]["schedule"]["unit"], "step");
  EXPECT_EQ(resolved["data"]["split_seed"], 0);
  EXPECT_EQ(resolved["augment"]["decoupled"], false);
  EXPECT_EQ(resolved["run"]["dir"], path("run"));

  const train::RunInfo info = train::read_run_info(path("run"));
  ASSERT_EQ(info.modalities.size(), 2u);
  EXPECT_EQ(info.modalities[0].name, "rgb");
  EXPECT_EQ(info.modalities[1].channels, 1);
  EXPECT_EQ(info.num_classes, 8);
  ASSERT_EQ(info.normalization.mean.size(), 2u);
  EXPECT_EQ(info.normalization.std[0].size(), 3u);
  EXPECT_GT(info.normalization.std[0][0], 0.0f);
  EXPECT_EQ(info.class_names.size(), 8u);

  const std::vector<json> lines = read_lines(files.metrics());
  ASSERT_EQ(lines.size(), 2u);
  for (size_t e = 0; e < lines.size(); ++e) {
    const json& line = lines[e];
    EXPECT_EQ(line["epoch"], e + 1);
    EXPECT_GT(line["lr"].get<double>(), 0.0);
    EXPECT_GE(line["seconds"].get<double>(), 0.0);
    EXPECT_GT(line["samples_per_second"].get<double>(), 0.0);
    EXPECT_TRUE(std::isfinite(line["train"]["loss"].get<double>()));
    EXPECT_NEAR(line["train"]["loss"].get<double>(),
                line["train"]["ce_rgb"].get<double>() + line["train"]["ce_depth"].get<double>(), 1e-5);
    for (const char* output : {"rgb", "depth"})
      for (const char* metric : {"weighted_f1", "macro_f1", "accuracy"}) {
        const double v = line["val"][output][metric].get<double>();
        EXPECT_GE(v, 0.0) << output << " " << metric;
        EXPECT_LE(v, 1.0) << output << " " << metric;
      }
  }
  EXPECT_LT(lines[1]["lr"].get<double>(), lines[0]["lr"].get<double>());   // cosine decay

  // Best checkpoints: the deployable's weights and everything `xmkd predict` needs.
  for (const std::string output : {"rgb", "depth"}) {
    std::map<std::string, std::string> meta;
    const TensorMap weights = io::load_safetensors(files.best(output), &meta);
    EXPECT_TRUE(weights.count("head.weight") && weights.count("norm.running_mean")) << output;
    EXPECT_EQ(meta[train::meta::kOutput], output);
    EXPECT_EQ(meta[train::meta::kMethod], "probe");
    EXPECT_EQ(meta[train::meta::kMetric], "weighted_f1");
    EXPECT_EQ(meta[train::meta::kTask], "classification");
    EXPECT_EQ(meta[train::meta::kArchitecture], "probe");
    EXPECT_EQ(meta[train::meta::kModality], output);
    const int64_t channels = output == "rgb" ? 3 : 1;
    EXPECT_EQ(meta[train::meta::kChannels], std::to_string(channels));
    EXPECT_EQ(json::parse(meta[train::meta::kSizes]), json({{"in_channels", channels}, {"num_classes", 8}}));
    EXPECT_EQ(json::parse(meta[train::meta::kMean]).size(), static_cast<size_t>(channels));
    EXPECT_EQ(json::parse(meta[train::meta::kStd]).size(), static_cast<size_t>(channels));
    EXPECT_EQ(json::parse(meta[train::meta::kClassNames]).size(), 8u);
    const int64_t epoch = std::stoll(meta[train::meta::kEpoch]);
    ASSERT_TRUE(epoch == 1 || epoch == 2);
    // The value is the validation metric of that epoch's line.
    EXPECT_EQ(json::parse(meta[train::meta::kValue]).get<double>(), lines[epoch - 1]["val"][output]["weighted_f1"].get<double>());
  }

  // last.safetensors: method and optimizer state, and the progress.
  const TensorMap last = io::load_safetensors(files.last());
  EXPECT_TRUE(last.count("method.rgb.head.weight"));
  EXPECT_TRUE(last.count("method.depth.norm.running_var"));
  EXPECT_TRUE(last.count("optimizer.optimizer.step"));
  EXPECT_TRUE(last.count("optimizer.rgb.head.weight.exp_avg"));
  const json progress = progress_of(files.last());
  EXPECT_EQ(progress["epochs_done"], 2);
  EXPECT_EQ(progress["step"], 0);
  EXPECT_EQ(progress["optimizer_steps"], 2 * 5);

  const json evaluation = read_json(files.eval());
  EXPECT_EQ(evaluation["split"], "test");
  for (const char* output : {"rgb", "depth"}) {
    const json& entry = evaluation["outputs"][output];
    EXPECT_GE(entry["weighted_f1"].get<double>(), 0.0);
    EXPECT_LE(entry["accuracy"].get<double>(), 1.0);
    EXPECT_EQ(entry["confusion_matrix"].size(), 8u);
  }

  // `xmkd eval`'s engine scores the same checkpoints the same way.
  const json again = train::evaluate_run(path("run"), "test", "cpu", options().make_method);
  EXPECT_EQ(again["outputs"]["rgb"]["weighted_f1"], evaluation["outputs"]["rgb"]["weighted_f1"]);
  EXPECT_EQ(again["outputs"]["depth"]["confusion_matrix"], evaluation["outputs"]["depth"]["confusion_matrix"]);
}

TEST_F(TrainerTest, SegmentationRunScoresMeanIou) {
  json cfg = config("seg", "segmentation");
  cfg["train"]["epochs"] = 1;
  cfg["data"]["modalities"] = {"depth"};   // a subset
  cfg["data"]["normalize"] = {{"depth", {{"mean", {2.0}}, {"std", {1.5}}}}};
  ASSERT_EQ(train(cfg), train::TrainStatus::Finished);
  const train::RunFiles files{path("seg")};
  const std::vector<json> lines = read_lines(files.metrics());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(lines[0]["val"].contains("rgb"));
  const double miou = lines[0]["val"]["depth"]["miou"].get<double>();
  EXPECT_GE(miou, 0.0);
  EXPECT_LE(miou, 1.0);
  EXPECT_LE(lines[0]["val"]["depth"]["pixel_accuracy"].get<double>(), 1.0);
  std::map<std::string, std::string> meta;
  io::load_safetensors(files.best("depth"), &meta);
  EXPECT_EQ(meta[train::meta::kMetric], "miou");
  EXPECT_EQ(meta[train::meta::kTask], "segmentation");
  const train::RunInfo info = train::read_run_info(path("seg"));
  ASSERT_EQ(info.modalities.size(), 1u);
  EXPECT_EQ(info.normalization.mean[0], std::vector<float>{2.0f});
  EXPECT_EQ(info.normalization.std[0], std::vector<float>{1.5f});
  EXPECT_EQ(json::parse(meta[train::meta::kMean]), json({2.0}));
  const json evaluation = read_json(files.eval());
  EXPECT_EQ(evaluation["outputs"]["depth"]["per_class_iou"].size(), 10u);
}

// Train 2 epochs straight; the same run interrupted (at the end of epoch 1 and at several steps
// within an epoch) then resumed must end with the same bytes in every tensor of last.safetensors
// and of the best checkpoints, and the same metrics lines.
TEST_F(TrainerTest, ResumeIsBitIdentical) {
  ASSERT_EQ(train(config("straight")), train::TrainStatus::Finished);
  const std::vector<json> straight = read_lines(path("straight/metrics.jsonl"));

  struct Case {
    const char* run;
    Hooks hooks;
    int64_t epochs_done, step;
  };
  Hooks boundary, mid_first, mid_second, last_step;
  boundary.interrupt_in_validation = true;   // during epoch 1's validation: saved after that epoch
  mid_first.interrupt_epoch = 0, mid_first.interrupt_step = 1;
  mid_second.interrupt_epoch = 1, mid_second.interrupt_step = 2;
  last_step.interrupt_epoch = 0, last_step.interrupt_step = 4;   // every batch done, not yet validated
  for (const Case& c : {Case{"boundary", boundary, 1, 0}, Case{"mid_first", mid_first, 0, 2},
                        Case{"mid_second", mid_second, 1, 3}, Case{"last_step", last_step, 0, 5}}) {
    SCOPED_TRACE(c.run);
    json cfg = config(c.run);
    ASSERT_EQ(train(cfg, c.hooks), train::TrainStatus::Interrupted);
    const json progress = progress_of(path(c.run) + "/last.safetensors");
    EXPECT_EQ(progress["epochs_done"], c.epochs_done);
    EXPECT_EQ(progress["step"], c.step);
    EXPECT_EQ(read_lines(path(c.run) + "/metrics.jsonl").size(), static_cast<size_t>(c.epochs_done));
    EXPECT_FALSE(fs::exists(path(c.run) + "/eval.json"));

    ASSERT_EQ(resume(c.run), train::TrainStatus::Finished);
    expect_identical_tensors(path("straight/last.safetensors"), path(c.run) + "/last.safetensors");
    for (const char* output : {"rgb", "depth"})
      expect_identical_tensors(path("straight/best/") + output + ".safetensors",
                               path(c.run) + "/best/" + output + ".safetensors");
    const std::vector<json> resumed = read_lines(path(c.run) + "/metrics.jsonl");
    ASSERT_EQ(resumed.size(), straight.size());
    for (size_t e = 0; e < straight.size(); ++e) {
      EXPECT_EQ(resumed[e]["train"], straight[e]["train"]) << "epoch " << e + 1;
      EXPECT_EQ(resumed[e]["val"], straight[e]["val"]) << "epoch " << e + 1;
      EXPECT_EQ(resumed[e]["lr"], straight[e]["lr"]) << "epoch " << e + 1;
    }
    json resumed_eval = read_json(path(c.run) + "/eval.json")["outputs"], straight_eval = read_json(path("straight/eval.json"))["outputs"];
    for (const char* output : {"rgb", "depth"}) {   // the checkpoint paths name each run's directory
      resumed_eval[output].erase("checkpoint");
      straight_eval[output].erase("checkpoint");
    }
    EXPECT_EQ(resumed_eval, straight_eval);
    EXPECT_EQ(progress_of(path(c.run) + "/last.safetensors")["best"], progress_of(path("straight/last.safetensors"))["best"]);
  }
}

TEST_F(TrainerTest, ResumeTruncatesMetricsAndRefusesMissingCheckpoint) {
  Hooks hooks;
  hooks.interrupt_epoch = 1, hooks.interrupt_step = 0;
  ASSERT_EQ(train(config("run"), hooks), train::TrainStatus::Interrupted);
  // A line of an epoch the checkpoint does not hold (a crash between the two writes) goes.
  { std::ofstream(path("run/metrics.jsonl"), std::ios::app) << json({{"epoch", 2}}).dump() << "\n"; }
  train::Trainer::resume(path("run"), options());
  EXPECT_EQ(read_lines(path("run/metrics.jsonl")).size(), 1u);

  // A folder that is not a run is called that; a run with no checkpoint yet names the checkpoint.
  fs::create_directories(path("empty"));
  std::string message = error_message([&] { train::Trainer::resume(path("empty"), options()); });
  EXPECT_TRUE(contains(message, "is not an xmkd run directory (no config.json")) << message;
  fs::copy_file(path("run/config.json"), path("empty/config.json"));
  message = error_message([&] { train::Trainer::resume(path("empty"), options()); });
  EXPECT_TRUE(contains(message, "last.safetensors")) << message;
}

TEST_F(TrainerTest, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  // Reference: the epoch-1 state of the same configuration.
  Hooks boundary;
  boundary.interrupt_in_validation = true;
  ASSERT_EQ(train(config("good"), boundary), train::TrainStatus::Interrupted);

  Hooks nan;
  nan.nan_epoch = 1, nan.nan_step = 2;
  const std::string message = error_message([&] { train(config("nan"), nan); });
  EXPECT_TRUE(contains(message, "epoch 2, step 3")) << message;
  EXPECT_TRUE(contains(message, "ce_rgb = nan")) << message;
  EXPECT_TRUE(contains(message, "still holds epoch 1")) << message;
  expect_identical_tensors(path("good/last.safetensors"), path("nan/last.safetensors"));
  EXPECT_EQ(progress_of(path("nan/last.safetensors"))["epochs_done"], 1);

  Hooks first;
  first.nan_epoch = 0, first.nan_step = 0;
  const std::string early = error_message([&] { train(config("early"), first); });
  EXPECT_TRUE(contains(early, "epoch 1, step 1")) << early;
  EXPECT_FALSE(fs::exists(path("early/last.safetensors")));
}

TEST_F(TrainerTest, ConfigurationErrorsNameTheKey) {
  auto error_of = [&](json cfg) { return error_message([&] { train(cfg); }); };
  json cfg = config("a");
  cfg["train"]["epoch"] = 3;
  std::string m = error_of(cfg);
  EXPECT_TRUE(contains(m, "unknown key 'train.epoch' (did you mean 'train.epochs'?)")) << m;

  cfg = config("a");
  cfg["data"]["format"] = "parquet";
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "data.format") && contains(m, "synthetic, manifest, nyudv2, sunrgbd, discom_npy, fashion_mnist")) << m;

  cfg = config("a");
  cfg["data"] = {{"format", "manifest"}, {"path", path("missing.json")}};
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "data.path") && contains(m, "missing.json") && contains(m, "does not exist")) << m;

  cfg = config("a");
  cfg["train"]["conv_backend"] = "winograd";
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.conv_backend") && contains(m, "handwritten, handwritten-tf32, cudnn")) << m;

  cfg = config("a");
  cfg["train"]["batchnorm_backend"] = "welford";
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.batchnorm_backend") && contains(m, "handwritten, cudnn")) << m;

  cfg = config("a");
  cfg["train"]["optimizer"]["name"] = "lion";
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.optimizer.name") && contains(m, "adam, adamw, sgd")) << m;

  cfg = config("a");
  cfg["train"]["batch_size"] = "eight";
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.batch_size") && contains(m, "expected an integer")) << m;

  cfg = config("a");
  cfg["data"]["modalities"] = {"thermal"};
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "data.modalities") && contains(m, "rgb, depth")) << m;

  cfg = config("a");
  cfg["train"]["schedule"]["name"] = "cosine";
  cfg["train"]["schedule"]["warmup_epochs"] = 5;
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.schedule.warmup_epochs")) << m;

  cfg = config("a");
  cfg["train"]["batch_size"] = 500;
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "train.batch_size") && contains(m, "larger than the training split")) << m;

  // Nothing was written by a rejected configuration; a finished run is not overwritten.
  EXPECT_FALSE(fs::exists(path("a")));
  cfg = config("a");
  cfg["train"]["epochs"] = 1;
  ASSERT_EQ(train(cfg), train::TrainStatus::Finished);
  m = error_of(cfg);
  EXPECT_TRUE(contains(m, "already holds a run") && contains(m, "--resume")) << m;
}

// Indices of a split's samples in the dataset it was cut from.
std::vector<int64_t> subset_indices(const std::shared_ptr<const data::Dataset>& split) {
  return dynamic_cast<const data::Subset&>(*split).indices();
}

TEST_F(TrainerTest, DataFormatsAndSplits) {
  // synthetic: stratified 70/10/20, disjoint, from split_seed.
  io::Config synthetic = io::Config::from_json(config("unused")["data"], "data.json");
  train::DataSetup s = train::setup_data(synthetic.root());
  std::vector<int64_t> all;
  for (const auto& split : {s.train, s.val, s.test})
    for (int64_t i : subset_indices(split)) all.push_back(i);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all.size(), 60u);
  EXPECT_TRUE(std::adjacent_find(all.begin(), all.end()) == all.end());   // disjoint
  EXPECT_EQ(s.train->size(), 40);
  EXPECT_EQ(s.val->size(), 8);
  json reseeded_data = config("unused")["data"];
  reseeded_data["split_seed"] = 9;
  io::Config reseeded = io::Config::from_json(reseeded_data, "data.json");
  EXPECT_NE(subset_indices(train::setup_data(reseeded.root()).val), subset_indices(s.val));

  // manifest: the same kind of split over the files listed.
  data::SyntheticOptions options;
  options.size = 16;
  options.count = 40;
  data::write_synthetic(options, path("written"));
  io::Config manifest = io::Config::from_json({{"format", "manifest"}, {"path", path("written/manifest.json")}}, "data.json");
  train::DataSetup m = train::setup_data(manifest.root());
  EXPECT_EQ(m.train->size() + m.val->size() + m.test->size(), 40);
  EXPECT_EQ(m.info.modalities.size(), 2u);
  EXPECT_NO_THROW(manifest.check_all_used());

  // discom_npy: the directory's own split files.
  auto dataset = data::synthetic_dataset(options);
  data::write_discom_npy(*dataset, path("npy"), {"RGB", "DEPTH"}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {12, 13, 14, 15},
                         {16, 17, 18, 19, 20, 21, 22, 23});
  io::Config npy = io::Config::from_json({{"format", "discom_npy"}, {"dir", path("npy")}, {"prefixes", {"RGB", "DEPTH"}},
                                          {"modalities", {"DEPTH"}}},
                                         "data.json");
  train::DataSetup n = train::setup_data(npy.root());
  EXPECT_EQ(n.train->size(), 12);
  EXPECT_EQ(n.val->size(), 4);
  EXPECT_EQ(n.test->size(), 8);
  ASSERT_EQ(n.info.modalities.size(), 1u);
  EXPECT_EQ(n.info.modalities[0].channels, 1);
  EXPECT_EQ(n.train->get(0).images.size(), 1u);
  const std::string missing = error_message([&] {
    io::Config c = io::Config::from_json({{"format", "discom_npy"}, {"dir", path("npy")}}, "data.json");
    train::setup_data(c.root());
  });
  EXPECT_TRUE(contains(missing, "key 'prefixes': missing")) << missing;
}

TEST_F(TrainerTest, MethodNameChoosesDataDefaults) {
  json cfg = config("discom");
  cfg["method"]["name"] = "discom_kd";
  train::Trainer discom(io::Config::from_json(cfg, "tiny.json"), options());
  EXPECT_EQ(read_json(path("discom/config.json"))["train"]["independent_shuffle"], true);
  EXPECT_EQ(read_json(path("discom/config.json"))["augment"]["decoupled"], false);
  cfg = config("crodino");
  cfg["method"]["name"] = "crodino_kd";
  train::Trainer crodino(io::Config::from_json(cfg, "tiny.json"), options());
  EXPECT_EQ(read_json(path("crodino/config.json"))["train"]["independent_shuffle"], false);
  EXPECT_EQ(read_json(path("crodino/config.json"))["augment"]["decoupled"], true);
}

TEST_F(TrainerTest, ProgramHelpAndErrors) {
  std::string out, err;
  ASSERT_EQ(run_program("train --help", &out, &err), 0) << err;
  for (const char* option : {"--config", "--set", "--device", "--out", "--resume", "metrics.jsonl"})
    EXPECT_TRUE(contains(out, option)) << option << "\n" << out;
  ASSERT_EQ(run_program("eval --help", &out, &err), 0) << err;
  EXPECT_TRUE(contains(out, "--run") && contains(out, "--split")) << out;

  std::ofstream(path("bad.json")) << json({{"data", {{"format", "parquet"}}}}).dump();
  EXPECT_EQ(run_program("train --config '" + path("bad.json") + "' --out '" + path("r") + "'", &out, &err), 1);
  EXPECT_TRUE(contains(err, "data.format")) << err;
  EXPECT_EQ(run_program("train --config '" + path("bad.json") + "' --set data.format", &out, &err), 1);
  EXPECT_TRUE(contains(err, "--set 'data.format'") && contains(err, "key=value")) << err;
  EXPECT_EQ(run_program("train --resume '" + path("r") + "' --set train.epochs=3", &out, &err), 1);
  EXPECT_TRUE(contains(err, "--resume")) << err;
  EXPECT_EQ(run_program("train", &out, &err), 1);
  EXPECT_TRUE(contains(err, "--config")) << err;
}

}  // namespace
}  // namespace xmkd
