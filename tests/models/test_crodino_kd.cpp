// CroDiNo-KD (models/crodino_kd.h): the branch's shapes and deploy spec, every loss part against a
// recomputation from the intermediates, the switches, per-modality label maps, a few Adam steps,
// the deployable round trip and the configuration errors. Tiny inputs: 32x32 (a 1x1 bottleneck;
// the pooling over several positions is tested on the op itself, tests/ops/test_contrastive.cpp),
// batch 2, rgb (3) + depth (1), 4 classes, D = 16.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/autograd.h"
#include "engine/io/config.h"
#include "engine/optim/optimizer.h"
#include "losses/contrastive.h"
#include "models/crodino_kd.h"
#include "models/methods.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using models::CrodinoKD;
using testing::contains;
using testing::error_message;
using testing::expect_close;

constexpr int64_t kClasses = 4;
constexpr int64_t kSize = 32;

models::MethodContext context(data::Task task = data::Task::Segmentation) {
  models::MethodContext c;
  c.modalities = {{"rgb", 3}, {"depth", 1}};
  c.task = task;
  c.num_classes = kClasses;
  return c;
}

// A config whose "method" section is `section` plus name and a small feature_dim.
std::shared_ptr<models::Method> build(nlohmann::json section, const models::MethodContext& ctx = context()) {
  section["name"] = "crodino_kd";
  if (!section.contains("feature_dim")) section["feature_dim"] = 16;
  io::Config config = io::Config::from_json(nlohmann::json{{"method", section}}, "test.json");
  return models::make_method(config.root().child("method"), ctx);
}

CrodinoKD& as_crodino(const std::shared_ptr<models::Method>& m) { return dynamic_cast<CrodinoKD&>(*m); }

// Quadrants of classes {0, 1, 2, 3} (sample 0) or {3, 2, 1, 255} (sample 1); `transposed` swaps
// rows and columns, as a modality's own geometric augmentation would: the pixels differ between the
// modalities, but the top-left cell that the 1x1 bottleneck's nearest resize keeps is the same class,
// so both modalities have prototypes for (0, 0) and (1, 3).
Tensor quadrant_labels(bool transposed) {
  const int64_t quadrant[2][4] = {{0, 1, 2, 3}, {3, 2, 1, 255}};
  std::vector<int64_t> v;
  for (int n = 0; n < 2; ++n)
    for (int64_t y = 0; y < kSize; ++y)
      for (int64_t x = 0; x < kSize; ++x) {
        const int64_t row = transposed ? x : y, col = transposed ? y : x;
        v.push_back(quadrant[n][(row >= kSize / 2) * 2 + (col >= kSize / 2)]);
      }
  return Tensor::from_vector(v, {2, kSize, kSize});
}

data::Batch make_batch(uint64_t seed = 7) {
  Generator gen(seed);
  data::Batch b;
  b.inputs = {testing::random_normal({2, 3, kSize, kSize}, gen), testing::random_normal({2, 1, kSize, kSize}, gen)};
  b.label_maps = {quadrant_labels(false), quadrant_labels(true)};
  return b;
}

TrainProgress progress() { return {}; }

std::map<std::string, float> parts_of(const LossTerms& t) {
  std::map<std::string, float> out;
  for (const auto& [name, value] : t.parts) out[name] = value.item();
  return out;
}

float ce(const Tensor& logits, const Tensor& labels) {
  CrossEntropyOptions o;
  o.ignore_index = 255;
  return cross_entropy(logits, labels, o).item();
}

TEST(CrodinoBranch, ShapesAndDeploySpec) {
  Generator gen(1);
  models::CrodinoBranch branch(1, kClasses, 16);
  models::CrodinoBranchOutputs out = branch.forward_all(testing::random_normal({2, 1, kSize, kSize}, gen));
  EXPECT_EQ(out.z_inv.shape(), (Shape{2, 16, 1, 1}));
  EXPECT_EQ(out.z_spec.shape(), (Shape{2, 16, 1, 1}));
  ASSERT_EQ(out.skips.size(), 3u);
  EXPECT_EQ(out.skips[0].shape(), (Shape{2, 256, 2, 2}));
  EXPECT_EQ(out.skips[2].shape(), (Shape{2, 64, 8, 8}));
  EXPECT_EQ(out.logits.shape(), (Shape{2, kClasses, kSize, kSize}));
  models::DeploySpec spec = branch.spec();
  EXPECT_EQ(spec.architecture, "crodino_branch");
  EXPECT_EQ(spec.sizes.at("in_channels"), 1);
  EXPECT_EQ(spec.sizes.at("num_classes"), kClasses);
  EXPECT_EQ(spec.sizes.at("feature_dim"), 16);
  std::set<std::string> prefixes;
  for (const auto& [name, t] : branch.named_parameters()) prefixes.insert(name.substr(0, name.find('.')));
  EXPECT_EQ(prefixes, (std::set<std::string>{"encoder", "inv_head", "spec_head", "decoder"}));
}

TEST(CrodinoKD, EveryLossPartEqualsARecomputationFromTheIntermediates) {
  auto method = build({{"loss", {{"adv", true}}},
                       {"weights", {{"seg", 0.7}, {"aux", 0.3}, {"con", 0.2}, {"orth", 1.5}, {"adv", 0.4}}},
                       {"temperature", 0.2}});
  CrodinoKD& m = as_crodino(method);
  data::Batch batch = make_batch();
  LossTerms terms = m.training_loss(batch, progress());
  std::map<std::string, float> parts = parts_of(terms);
  ASSERT_EQ(parts.size(), 5u);

  // Train-mode batch norm normalises with the batch statistics, so a second forward pass gives the
  // same intermediates (it only moves the running statistics again).
  float seg = 0, aux = 0, orth = 0, adv = 0;
  std::vector<Tensor> z_inv;
  for (size_t i = 0; i < 2; ++i) {
    models::CrodinoBranchOutputs out = m.branch(i).forward_all(batch.inputs[i]);
    seg += ce(out.logits, batch.label_maps[i]);
    aux += ce(m.aux_decoder().forward(out.z_inv, out.skips, kSize, kSize), batch.label_maps[i]);
    orth += mean(cosine_similarity(out.z_inv, out.z_spec)).item();
    Tensor target = Tensor::from_vector(std::vector<int64_t>{static_cast<int64_t>(i), static_cast<int64_t>(i)}, {2});
    adv += cross_entropy(m.discriminator()->forward(global_avg_pool(out.z_inv)), target).item();
    z_inv.push_back(out.z_inv);
  }
  const float con = losses::cross_modal_prototype_contrast(z_inv, batch.label_maps, kClasses, 0.2f).item();
  // Identical arithmetic on identical inputs: only the order of the sums of the total differs.
  EXPECT_NEAR(parts["seg"], seg, 1e-5f * std::abs(seg));
  EXPECT_NEAR(parts["aux"], aux, 1e-5f * std::abs(aux));
  EXPECT_NEAR(parts["orth"], orth, 1e-5f * std::abs(orth) + 1e-7f);
  EXPECT_NEAR(parts["adv"], adv, 1e-5f * std::abs(adv));
  EXPECT_NEAR(parts["con"], con, 1e-5f * std::abs(con));
  EXPECT_GT(con, 0.0f);   // the two modalities share (0, 0) and (1, 3)
  const float total = 0.7f * seg + 0.3f * aux + 0.2f * con + 1.5f * orth + 0.4f * adv;
  EXPECT_NEAR(terms.total.item(), total, 1e-5f * total);
  EXPECT_TRUE(terms.total.requires_grad());
}

TEST(CrodinoKD, SwitchingATermOffRemovesIt) {
  data::Batch batch = make_batch();
  {
    auto m = build({});
    std::map<std::string, float> parts = parts_of(m->training_loss(batch, progress()));
    EXPECT_EQ(parts.size(), 4u);   // adv is off by default
    EXPECT_EQ(parts.count("adv"), 0u);
    EXPECT_EQ(as_crodino(m).discriminator(), nullptr);
    for (const auto& [name, t] : m->named_parameters()) EXPECT_FALSE(contains(name, "discriminator")) << name;
  }
  for (const std::string term : {"seg", "aux", "con", "orth"}) {
    auto m = build({{"loss", {{term, false}}}});
    LossTerms terms = m->training_loss(batch, progress());
    std::map<std::string, float> parts = parts_of(terms);
    EXPECT_EQ(parts.count(term), 0u) << term;
    EXPECT_EQ(parts.size(), 3u) << term;
    // Default weights 1, 0.5, 0.1, 1 on what is left.
    const std::map<std::string, float> weight = {{"seg", 1.0f}, {"aux", 0.5f}, {"con", 0.1f}, {"orth", 1.0f}};
    float total = 0;
    for (const auto& [name, value] : parts) total += weight.at(name) * value;
    EXPECT_NEAR(terms.total.item(), total, 1e-5f * total) << term;
  }
}

TEST(CrodinoKD, EachModalityIsScoredAgainstItsOwnLabelMap) {
  auto method = build({{"loss", {{"aux", false}, {"con", false}, {"orth", false}}}});
  CrodinoKD& m = as_crodino(method);
  data::Batch batch = make_batch();
  ASSERT_NE(batch.label_maps[0].to_vector<int64_t>(), batch.label_maps[1].to_vector<int64_t>());
  const float seg = parts_of(m.training_loss(batch, progress()))["seg"];
  const float own = ce(m.branch(0).forward(batch.inputs[0]), batch.label_maps[0]) +
                    ce(m.branch(1).forward(batch.inputs[1]), batch.label_maps[1]);
  const float shared = ce(m.branch(0).forward(batch.inputs[0]), batch.label_maps[0]) +
                       ce(m.branch(1).forward(batch.inputs[1]), batch.label_maps[0]);
  EXPECT_NEAR(seg, own, 1e-5f * own);
  EXPECT_GT(std::abs(seg - shared), 1e-3f);
  // The depth label map alone changes the loss.
  data::Batch changed = batch;
  changed.label_maps[1] = batch.label_maps[0];
  EXPECT_NEAR(parts_of(m.training_loss(changed, progress()))["seg"], shared, 1e-5f * shared);
}

TEST(CrodinoKD, AFewAdamStepsOnOneBatchLowerTheLoss) {
  auto m = build({});
  data::Batch batch = make_batch();
  optim::AdamOptions options;
  options.lr = 1e-3;
  optim::Adam adam(m->trainable_parameters(), options);
  std::vector<float> losses;
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    LossTerms terms = m->training_loss(batch, progress());
    terms.total.backward();
    adam.step();
    losses.push_back(terms.total.item());
  }
  EXPECT_LT(losses.back(), losses.front()) << losses.front() << " -> " << losses.back();
}

TEST(CrodinoKD, OutputsPredictAndDeployableRoundTrip) {
  auto method = build({});
  CrodinoKD& m = as_crodino(method);
  std::vector<models::MethodOutput> outputs = m.outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[1].name, "depth");
  EXPECT_EQ(outputs[1].label_modality, 1);
  EXPECT_EQ(outputs[1].input_modalities, (std::vector<int64_t>{1}));
  // Take a step so that batch-norm statistics are not at their defaults.
  data::Batch batch = make_batch();
  m.training_loss(batch, progress());

  for (const auto& [name, t] : m.named_parameters())
    EXPECT_TRUE(name.rfind("branch_rgb.", 0) == 0 || name.rfind("branch_depth.", 0) == 0 ||
                name.rfind("aux_decoder.", 0) == 0)
        << name;
  std::shared_ptr<models::Deployable> depth = m.deployable("depth");
  ASSERT_TRUE(depth);
  EXPECT_EQ(&m.checkpoint_module("depth"), depth.get());
  TensorMap state = m.checkpoint_module("depth").state_dict();
  EXPECT_TRUE(state.count("encoder.conv1.weight"));
  EXPECT_TRUE(state.count("inv_head.bn.running_mean"));

  std::shared_ptr<models::Deployable> rebuilt = models::make_deployable(depth->spec());
  rebuilt->load_state_dict(state, /*strict=*/true, "depth checkpoint");
  m.eval();
  rebuilt->eval();
  NoGradGuard no_grad;
  std::vector<Tensor> predicted = m.predict(batch);
  ASSERT_EQ(predicted.size(), 2u);
  EXPECT_EQ(predicted[0].shape(), (Shape{2, kClasses, kSize, kSize}));
  expect_close(rebuilt->forward(batch.inputs[1]), predicted[1], 0, 0, "rebuilt depth branch");
  expect_close(m.branch(0).forward(batch.inputs[0]), predicted[0], 0, 0, "rgb branch");

  std::string message = error_message([&] { m.checkpoint_module("thermal"); });
  EXPECT_TRUE(contains(message, "thermal") && contains(message, "rgb, depth")) << message;
  message = error_message([&] { models::make_deployable({"crodino_branch", {{"in_channels", 3}}}); });
  EXPECT_TRUE(contains(message, "num_classes")) << message;
}

TEST(CrodinoKD, ModalitiesSelectsAndOrdersTheBranches) {
  models::MethodContext ctx = context();
  ctx.modalities.push_back({"thermal", 1});
  auto method = build({{"modalities", {"depth", "thermal"}}}, ctx);
  std::vector<models::MethodOutput> outputs = method->outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "depth");
  EXPECT_EQ(outputs[0].label_modality, 1);
  EXPECT_EQ(outputs[1].name, "thermal");
  EXPECT_EQ(outputs[1].label_modality, 2);
}

TEST(CrodinoKD, ConfigErrorsNameTheKey) {
  auto expect_key = [](nlohmann::json section, const std::string& key) {
    std::string message = error_message([&] { build(section); });
    EXPECT_TRUE(contains(message, "'" + key + "'")) << key << ": " << message;
  };
  expect_key({{"modalities", {"rgb", "thermal"}}}, "method.modalities");
  expect_key({{"modalities", {"rgb"}}}, "method.modalities");
  expect_key({{"modalities", {"rgb", "rgb"}}}, "method.modalities");
  expect_key({{"feature_dim", 0}}, "method.feature_dim");
  expect_key({{"temperature", -0.1}}, "method.temperature");
  expect_key({{"weights", {{"aux", -1}}}}, "method.weights.aux");
  expect_key({{"loss", {{"con", "yes"}}}}, "method.loss.con");
  expect_key({{"loss", {{"seg", false}, {"aux", false}, {"con", false}, {"orth", false}}}}, "method.loss.seg");
  std::string message = error_message([] { build({}, context(data::Task::Classification)); });
  EXPECT_TRUE(contains(message, "crodino_kd") && contains(message, "segmentation")) << message;
}

TEST(CrodinoKD, ABatchWithoutLabelMapsIsAnError) {
  auto m = build({});
  data::Batch batch = make_batch();
  batch.label_maps.clear();
  std::string message = error_message([&] { m->training_loss(batch, progress()); });
  EXPECT_TRUE(contains(message, "crodino_kd") && contains(message, "label map")) << message;
}

}  // namespace
}  // namespace xmkd
