// DisCoM-KD (models/discom_kd.h): names and shapes, every loss term against a computation made
// here from the branches' outputs and against PyTorch, the switches and weights, the GRL's sign,
// unpaired batches, a few training steps, the deployable round trip, three modalities, and the
// configuration errors.
//
// Tolerances: a hand computation runs the same ops on the same tensors as the method, so they
// agree to float32 rounding of the order of summation (1e-6 relative). Against PyTorch (float32)
// the terms differ by up to 1.1e-7 relative and the head gradients by up to 2.4e-7 absolute at
// |g| ~ 1.3 (the feature gradients agree exactly): held to 1e-6 relative and 1e-6 + 1e-6·|g|.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/io/config.h"
#include "engine/ops.h"
#include "engine/optim/optimizer.h"
#include "models/discom_kd.h"
#include "models/methods.h"
#include "tests/support/deterministic.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using models::DiscomBranchOutputs;
using models::DiscomKD;
using Terms = std::map<std::string, Tensor>;

constexpr int64_t kClasses = 4, kBatch = 3, kSize = 32, kD = 256;
const std::vector<std::string> kTermNames = {"cl", "adv", "mod", "aux", "orth"};

models::MethodContext make_context(std::vector<data::ModalitySpec> modalities) {
  models::MethodContext context;
  context.modalities = std::move(modalities);
  context.task = data::Task::Classification;
  context.num_classes = kClasses;
  return context;
}
models::MethodContext rgb_depth() { return make_context({{"rgb", 3}, {"depth", 1}}); }
models::MethodContext rgb_depth_thermal() { return make_context({{"rgb", 3}, {"depth", 1}, {"thermal", 1}}); }

// Through the registry, from a "method" section (the name is added).
std::shared_ptr<DiscomKD> build(nlohmann::json section, const models::MethodContext& context) {
  section["name"] = "discom_kd";
  io::Config config = io::Config::from_json(nlohmann::json{{"method", section}}, "test.json");
  auto method = std::dynamic_pointer_cast<DiscomKD>(models::make_method(config.root().child("method"), context));
  EXPECT_NE(method, nullptr);
  return method;
}

std::string build_error(nlohmann::json section, const models::MethodContext& context) {
  return testing::error_message([&] { build(std::move(section), context); });
}

// Per dataset modality: a random (B, C_m, 32, 32) input and its own labels.
data::Batch make_batch(const models::MethodContext& context, const std::vector<std::vector<int64_t>>& labels,
                       Generator& gen) {
  data::Batch batch;
  for (size_t i = 0; i < context.modalities.size(); ++i) {
    const int64_t n = static_cast<int64_t>(labels[i].size());
    batch.inputs.push_back(testing::random_normal({n, context.modalities[i].channels, kSize, kSize}, gen));
    batch.labels.push_back(Tensor::from_vector(labels[i], {n}));
  }
  return batch;
}

Tensor nonnegative(const Shape& shape, Generator& gen) {
  std::vector<float> v = testing::random_normal(shape, gen).to_vector<float>();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_vector(v, shape);
}

// Leaf features standing in for M branches' outputs (z's non-negative, as after ReLU).
std::vector<DiscomBranchOutputs> leaf_features(int64_t modalities, Generator& gen) {
  std::vector<DiscomBranchOutputs> f(static_cast<size_t>(modalities));
  for (DiscomBranchOutputs& o : f) {
    o.z_inv = testing::requiring_grad(nonnegative({kBatch, kD}, gen));
    o.z_inf = testing::requiring_grad(nonnegative({kBatch, kD}, gen));
    o.z_irr = testing::requiring_grad(nonnegative({kBatch, kD}, gen));
    o.logits = testing::requiring_grad(testing::random_normal({kBatch, kClasses}, gen));
  }
  return f;
}

Tensor linear_head(nn::Linear& head, const Tensor& x) { return linear(x, head.weight, head.bias); }

// Every term, computed here from the branches' outputs f[m] and labels y[m] (modality label m).
// reverse = false leaves the gradient reversal out of L_adv (to check its sign).
Terms hand_terms(const models::DiscomHeads& heads, float lambda, const std::vector<DiscomBranchOutputs>& f,
                 const std::vector<Tensor>& y, bool reverse = true) {
  std::vector<Tensor> cl, adv, mod, aux, orth;
  for (size_t m = 0; m < f.size(); ++m) {
    const int64_t n = y[m].dim(0);
    Tensor modality = Tensor::from_vector(std::vector<int64_t>(static_cast<size_t>(n), static_cast<int64_t>(m)), {n});
    cl.push_back(cross_entropy(f[m].logits, y[m]));
    Tensor z_adv = reverse ? gradient_reversal(f[m].z_inv, lambda) : f[m].z_inv;
    adv.push_back(cross_entropy(linear_head(*heads.adv, z_adv), modality));
    mod.push_back(cross_entropy(linear_head(*heads.inf, f[m].z_inf), modality));
    mod.push_back(cross_entropy(linear_head(*heads.irr, f[m].z_irr), modality));
    aux.push_back(cross_entropy(linear_head(*heads.aux, f[m].z_inv), y[m]));
    aux.push_back(cross_entropy(linear_head(*heads.aux, f[m].z_inf), y[m]));
    orth.push_back(mean(cosine_similarity(f[m].z_inv, f[m].z_inf)));
    orth.push_back(mean(cosine_similarity(f[m].z_inf, f[m].z_irr)));
  }
  auto total = [](const std::vector<Tensor>& xs) {
    Tensor s = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) s = add(s, xs[i]);
    return s;
  };
  return {{"cl", total(cl)}, {"adv", total(adv)}, {"mod", total(mod)}, {"aux", total(aux)}, {"orth", total(orth)}};
}

// The method's hand terms: its heads and λ.
Terms hand_terms(DiscomKD& method, const std::vector<DiscomBranchOutputs>& f, const std::vector<Tensor>& y,
                 bool reverse = true) {
  return hand_terms(method.heads(), static_cast<float>(method.options().loss.grl_lambda), f, y, reverse);
}

// The loss options a "method" section gives (parsing builds no network).
models::DiscomLossOptions loss_options(nlohmann::json section) {
  io::Config config = io::Config::from_json(nlohmann::json{{"method", section}}, "test.json");
  return models::parse_discom_options(config.root().child("method"), rgb_depth()).loss;
}

// The branches' outputs on the batch and the labels, in modality-label order.
std::vector<DiscomBranchOutputs> branch_features(DiscomKD& method, const data::Batch& batch, std::vector<Tensor>& labels) {
  std::vector<DiscomBranchOutputs> f;
  labels.clear();
  for (int64_t m = 0; m < method.num_modalities(); ++m) {
    const size_t index = static_cast<size_t>(method.options().modalities[static_cast<size_t>(m)]);
    f.push_back(method.branch(m).features(batch.inputs[index]));
    labels.push_back(batch.labels[index]);
  }
  return f;
}

Terms parts_of(const LossTerms& loss) {
  Terms parts;
  for (const auto& [name, value] : loss.parts) parts[name] = value;
  return parts;
}

void expect_scalar_near(const Tensor& actual, const Tensor& expected, double rel, const std::string& what) {
  ASSERT_TRUE(actual.defined() && expected.defined()) << what;
  const double e = expected.item();
  EXPECT_NEAR(actual.item(), e, rel * std::max(1.0, std::fabs(e))) << what;
}

// Each tensor's accumulated gradient (cloned; undefined where none), then cleared.
std::vector<Tensor> take_grads(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> grads;
  for (Tensor t : tensors) {
    grads.push_back(t.grad().defined() ? t.grad().clone() : Tensor());
    t.zero_grad();
  }
  return grads;
}

std::vector<Tensor> head_parameters(const models::DiscomHeads& heads) {
  return {heads.aux->weight, heads.aux->bias, heads.inf->weight, heads.inf->bias,
          heads.irr->weight, heads.irr->bias, heads.adv->weight, heads.adv->bias};
}

// Head parameters first (aux, inf, irr, adv: weight, bias), then per modality z_inv, z_inf, z_irr, logits.
std::vector<Tensor> leaves_of(const models::DiscomHeads& heads, const std::vector<DiscomBranchOutputs>& f) {
  std::vector<Tensor> leaves = head_parameters(heads);
  for (const DiscomBranchOutputs& o : f)
    for (const Tensor& t : {o.z_inv, o.z_inf, o.z_irr, o.logits}) leaves.push_back(t);
  return leaves;
}

std::set<std::string> keys(const TensorMap& state) {
  std::set<std::string> out;
  for (const auto& [name, t] : state) out.insert(name);
  return out;
}

TEST(DiscomKD, BuildsBranchesAndHeadsWithCleanNames) {
  auto method = build({}, rgb_depth());
  EXPECT_EQ(method->name(), "discom_kd");
  EXPECT_EQ(method->num_modalities(), 2);
  TensorMap state = method->state_dict();
  for (const char* name : {"branch_rgb.enc_inv.conv1.weight", "branch_rgb.projection.0.weight",
                           "branch_rgb.projection.1.running_mean", "branch_depth.enc_spec.layer4.1.bn2.weight",
                           "branch_depth.classifier.bias", "cl_aux.weight", "cl_inf.bias", "cl_irr.weight", "cl_adv.weight"})
    EXPECT_TRUE(state.count(name)) << name;
  EXPECT_EQ(state["branch_rgb.enc_inv.conv1.weight"].shape(), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(state["branch_depth.enc_spec.conv1.weight"].shape(), (Shape{64, 1, 7, 7}));
  EXPECT_EQ(state["branch_rgb.projection.0.weight"].shape(), (Shape{kD, 512}));
  EXPECT_EQ(state["branch_rgb.classifier.weight"].shape(), (Shape{kClasses, 2 * kD}));
  EXPECT_EQ(state["cl_aux.weight"].shape(), (Shape{kClasses, kD}));
  for (const char* head : {"cl_inf.weight", "cl_irr.weight", "cl_adv.weight"}) EXPECT_EQ(state[head].shape(), (Shape{2, kD}));
  // The checkpoint of an output is its branch: the method's keys under "branch_<name>.".
  std::set<std::string> expected;
  for (const auto& [name, t] : state)
    if (name.rfind("branch_depth.", 0) == 0) expected.insert(name.substr(std::string("branch_depth.").size()));
  EXPECT_EQ(keys(method->checkpoint_module("depth").state_dict()), expected);
  EXPECT_TRUE(testing::contains(testing::error_message([&] { method->checkpoint_module("thermal"); }), "rgb, depth"));
}

TEST(DiscomKD, OutputsAndPredictionsArePerModality) {
  auto context = rgb_depth();
  auto method = build({}, context);
  std::vector<models::MethodOutput> outputs = method->outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "rgb");
  EXPECT_EQ(outputs[0].label_modality, 0);
  EXPECT_EQ(outputs[0].input_modalities, (std::vector<int64_t>{0}));
  EXPECT_EQ(outputs[1].name, "depth");
  EXPECT_EQ(outputs[1].label_modality, 1);
  EXPECT_EQ(outputs[1].input_modalities, (std::vector<int64_t>{1}));

  Generator gen(1);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  std::vector<Tensor> labels;
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  for (const DiscomBranchOutputs& o : f) {
    EXPECT_EQ(o.z_inv.shape(), (Shape{kBatch, kD}));
    EXPECT_EQ(o.z_inf.shape(), (Shape{kBatch, kD}));
    EXPECT_EQ(o.z_irr.shape(), (Shape{kBatch, kD}));
    EXPECT_EQ(o.logits.shape(), (Shape{kBatch, kClasses}));
  }
  method->eval();
  NoGradGuard no_grad;
  std::vector<Tensor> logits = method->predict(batch);
  ASSERT_EQ(logits.size(), 2u);
  for (int64_t m = 0; m < 2; ++m) {
    EXPECT_EQ(logits[static_cast<size_t>(m)].shape(), (Shape{kBatch, kClasses}));
    // predict runs each branch on its own modality's input.
    testing::expect_close(logits[static_cast<size_t>(m)], method->branch(m).forward(batch.inputs[static_cast<size_t>(m)]),
                          0, 0, "predict vs branch forward");
  }
}

TEST(DiscomKD, EachPartEqualsItsHandComputation) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(2);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  LossTerms loss = method->training_loss(batch, TrainProgress{});
  std::vector<std::string> names;
  for (const auto& [name, value] : loss.parts) names.push_back(name);
  EXPECT_EQ(names, kTermNames);
  Terms parts = parts_of(loss);

  std::vector<Tensor> labels;
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  Terms hand = hand_terms(*method, f, labels);
  double sum = 0;
  for (const std::string& t : kTermNames) {
    expect_scalar_near(parts[t], hand[t], 1e-6, t);
    EXPECT_FALSE(parts[t].requires_grad()) << t << ": parts are detached";
    sum += parts[t].item();
  }
  EXPECT_NEAR(loss.total.item(), sum, 1e-5);
  EXPECT_TRUE(loss.total.requires_grad());
}

TEST(DiscomKD, UnpairedBatchesUseEachModalitysOwnLabels) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(3);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  Terms parts = parts_of(method->training_loss(batch, TrainProgress{}));
  std::vector<Tensor> labels;
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  Terms own = hand_terms(*method, f, labels);
  Terms paired = hand_terms(*method, f, {labels[0], labels[0]});   // as if depth's rows were rgb's samples
  for (const char* t : {"cl", "aux"}) {
    expect_scalar_near(parts[t], own[t], 1e-6, t);
    EXPECT_GT(std::fabs(parts[t].item() - paired[t].item()), 1e-3) << t;
  }
  // The modality terms read no class labels.
  expect_scalar_near(paired["mod"], own["mod"], 0, "mod");

  // Different batch sizes per modality are fine too: nothing pairs rows.
  data::Batch uneven = make_batch(context, {{0, 1, 2, 3}, {2, 1, 0}}, gen);
  Terms uneven_parts = parts_of(method->training_loss(uneven, TrainProgress{}));
  f = branch_features(*method, uneven, labels);
  Terms uneven_hand = hand_terms(*method, f, labels);
  for (const std::string& t : kTermNames) expect_scalar_near(uneven_parts[t], uneven_hand[t], 1e-6, t);
}

TEST(DiscomLoss, MatchesPyTorch) {
  // tools/torch_fixtures/discom.py: 3 modalities, 2 rows each, GRL λ = 0.5.
  TensorMap fixture = testing::load_fixture("discom_loss");
  models::DiscomLossOptions options;
  options.grl_lambda = 0.5;
  models::DiscomHeads heads = models::DiscomHeads::make(3, kClasses);
  const std::vector<std::pair<std::string, nn::Linear*>> named_heads = {
      {"cl_aux", heads.aux.get()}, {"cl_inf", heads.inf.get()}, {"cl_irr", heads.irr.get()}, {"cl_adv", heads.adv.get()}};
  for (const auto& [head, linear] : named_heads)
    for (const auto& [name, t] : linear->state_dict())
      Tensor(t).copy_from(testing::deterministic_state_value(head + "." + name, t.shape(), t.dtype()));
  auto input = [](const std::string& name, const Shape& shape, float s, bool absolute) {
    std::vector<float> v = testing::deterministic_values(testing::fnv1a32(name), shape_numel(shape));
    for (float& x : v) x = (absolute ? std::fabs(x) : x) * s;
    return testing::requiring_grad(Tensor::from_vector(v, shape));
  };
  std::vector<DiscomBranchOutputs> f(3);
  std::vector<Tensor> labels;
  for (size_t m = 0; m < 3; ++m) {
    const std::string p = "m" + std::to_string(m) + ".";
    f[m] = {input(p + "z_inv", {2, kD}, 1, true), input(p + "z_inf", {2, kD}, 1, true),
            input(p + "z_irr", {2, kD}, 1, true), input(p + "logits", {2, kClasses}, 2, false)};
    labels.push_back(testing::fixture_tensor(fixture, "labels.m" + std::to_string(m)));
  }
  LossTerms loss = models::discom_loss(options, heads, f, labels);
  Terms parts = parts_of(loss);
  for (const std::string& t : kTermNames) expect_scalar_near(parts[t], testing::fixture_tensor(fixture, t), 1e-6, t);
  expect_scalar_near(loss.total, testing::fixture_tensor(fixture, "total"), 1e-6, "total");

  loss.total.backward();
  for (size_t m = 0; m < 3; ++m) {
    const std::string p = "m" + std::to_string(m) + ".";
    const std::vector<std::pair<std::string, Tensor>> blocks = {
        {"z_inv", f[m].z_inv}, {"z_inf", f[m].z_inf}, {"z_irr", f[m].z_irr}, {"logits", f[m].logits}};
    for (const auto& [block, t] : blocks)
      testing::expect_close(t.grad(), testing::fixture_tensor(fixture, "grad." + p + block), 1e-6, 1e-6, "grad " + p + block);
  }
  for (const auto& [head, linear] : named_heads) {
    testing::expect_close(linear->weight.grad(), testing::fixture_tensor(fixture, "grad." + head + ".weight"), 1e-6, 1e-6,
                          "grad " + head + ".weight");
    testing::expect_close(linear->bias.grad(), testing::fixture_tensor(fixture, "grad." + head + ".bias"), 1e-6, 1e-6,
                          "grad " + head + ".bias");
  }
}

std::vector<Tensor> two_label_sets() {
  return {Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, {3}), Tensor::from_vector(std::vector<int64_t>{3, 3, 1}, {3})};
}

TEST(DiscomLoss, SwitchingATermOffRemovesItFromTotalAndGradients) {
  Generator gen(4);
  std::vector<Tensor> labels = two_label_sets();
  models::DiscomHeads heads = models::DiscomHeads::make(2, kClasses);
  for (const std::string& off : kTermNames) {
    models::DiscomLossOptions options = loss_options({{"loss", {{off, false}}}});
    std::vector<DiscomBranchOutputs> f = leaf_features(2, gen);
    std::vector<Tensor> leaves = leaves_of(heads, f);
    LossTerms loss = models::discom_loss(options, heads, f, labels);
    Terms parts = parts_of(loss);
    EXPECT_EQ(parts.size(), 4u) << off;
    EXPECT_FALSE(parts.count(off)) << off;
    loss.total.backward();
    std::vector<Tensor> grads = take_grads(leaves);

    Terms hand = hand_terms(heads, 1.0f, f, labels);
    Tensor expected;
    for (const std::string& t : kTermNames)
      if (t != off) expected = expected.defined() ? add(expected, hand[t]) : hand[t];
    expect_scalar_near(loss.total, expected, 1e-6, "total without " + off);
    expected.backward();
    std::vector<Tensor> expected_grads = take_grads(leaves);
    for (size_t i = 0; i < leaves.size(); ++i) {
      ASSERT_EQ(grads[i].defined(), expected_grads[i].defined()) << "without " << off << ", leaf " << i;
      if (grads[i].defined())
        testing::expect_close(grads[i], expected_grads[i], 1e-7, 1e-6, "without " + off + ", leaf " + std::to_string(i));
    }
  }
}

TEST(DiscomLoss, EachTermAloneTrainsOnlyWhatItReads) {
  Generator gen(5);
  std::vector<Tensor> labels = two_label_sets();
  models::DiscomHeads heads = models::DiscomHeads::make(2, kClasses);
  // Which heads (aux, inf, irr, adv) and which blocks (z_inv, z_inf, z_irr, logits) each term reaches.
  const std::map<std::string, std::pair<std::vector<bool>, std::vector<bool>>> reaches = {
      {"cl", {{0, 0, 0, 0}, {0, 0, 0, 1}}},  {"adv", {{0, 0, 0, 1}, {1, 0, 0, 0}}},
      {"mod", {{0, 1, 1, 0}, {0, 1, 1, 0}}}, {"aux", {{1, 0, 0, 0}, {1, 1, 0, 0}}},
      {"orth", {{0, 0, 0, 0}, {1, 1, 1, 0}}}};
  for (const std::string& on : kTermNames) {
    nlohmann::json switches;
    for (const std::string& t : kTermNames) switches[t] = t == on;
    models::DiscomLossOptions options = loss_options({{"loss", switches}});
    std::vector<DiscomBranchOutputs> f = leaf_features(2, gen);
    std::vector<Tensor> leaves = leaves_of(heads, f);
    LossTerms loss = models::discom_loss(options, heads, f, labels);
    ASSERT_EQ(loss.parts.size(), 1u);
    EXPECT_EQ(loss.parts[0].first, on);
    loss.total.backward();
    std::vector<Tensor> grads = take_grads(leaves);
    const auto& [head_reached, block_reached] = reaches.at(on);
    for (size_t h = 0; h < 4; ++h)
      for (size_t k = 0; k < 2; ++k) EXPECT_EQ(grads[2 * h + k].defined(), head_reached[h]) << on << ": head " << h;
    for (size_t m = 0; m < 2; ++m)
      for (size_t b = 0; b < 4; ++b) EXPECT_EQ(grads[8 + 4 * m + b].defined(), block_reached[b]) << on << ": block " << b;
    expect_scalar_near(loss.total, hand_terms(heads, 1.0f, f, labels)[on], 1e-6, on);
  }
}

TEST(DiscomLoss, WeightsScaleTheTotalNotTheParts) {
  Generator gen(6);
  std::vector<Tensor> labels = two_label_sets();
  models::DiscomHeads heads = models::DiscomHeads::make(2, kClasses);
  const std::map<std::string, double> weights = {{"cl", 2.0}, {"adv", 0.5}, {"mod", 0.0}, {"aux", 1.5}, {"orth", 3.0}};
  models::DiscomLossOptions options = loss_options({{"weights", weights}});
  std::vector<DiscomBranchOutputs> f = leaf_features(2, gen);
  LossTerms loss = models::discom_loss(options, heads, f, labels);
  Terms parts = parts_of(loss), hand = hand_terms(heads, 1.0f, f, labels);
  double expected = 0;
  for (const auto& [t, w] : weights) {
    expect_scalar_near(parts[t], hand[t], 1e-6, t);
    expected += w * hand[t].item();
  }
  EXPECT_NEAR(loss.total.item(), expected, 1e-5);
}

TEST(DiscomLoss, ModalityLabelsAreThePositionsAndHeadsAreMWay) {
  // With M = 3 and Cl_inf, Cl_irr, Cl_adv biased hard towards one class, each modality's modality
  // terms are small only when that class is its own index.
  Generator gen(7);
  models::DiscomHeads heads = models::DiscomHeads::make(3, kClasses);
  EXPECT_EQ(heads.adv->weight.shape(), (Shape{3, kD}));
  std::vector<DiscomBranchOutputs> f = leaf_features(3, gen);
  std::vector<Tensor> labels = {two_label_sets()[0], two_label_sets()[1], two_label_sets()[0]};
  models::DiscomLossOptions options = loss_options({{"loss", {{"cl", false}, {"aux", false}, {"orth", false}}}});
  for (int64_t favoured = 0; favoured < 3; ++favoured) {
    for (nn::Linear* head : {heads.inf.get(), heads.irr.get(), heads.adv.get()}) {
      head->weight.copy_from(Tensor::zeros({3, kD}));
      std::vector<float> bias(3, 0.0f);
      bias[static_cast<size_t>(favoured)] = 20.0f;
      head->bias.copy_from(Tensor::from_vector(bias, {3}));
    }
    Terms parts = parts_of(models::discom_loss(options, heads, f, labels));
    // Per modality, CE of a head is ~0 for the favoured index and ~20 otherwise: 2 modalities miss
    // in L_adv (one CE each) and in L_mod (two CEs each).
    EXPECT_NEAR(parts["adv"].item(), 2 * 20.0, 1e-3) << favoured;
    EXPECT_NEAR(parts["mod"].item(), 4 * 20.0, 1e-3) << favoured;
  }
}

TEST(DiscomKD, GradientReversalNegatesTheAdversarialGradientIntoTheEncoder) {
  auto context = rgb_depth();
  auto method = build({{"grl_lambda", 0.5}, {"loss", {{"cl", false}, {"mod", false}, {"aux", false}, {"orth", false}}}},
                      context);
  Generator gen(7);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  method->zero_grad();
  method->training_loss(batch, TrainProgress{}).total.backward();
  NamedTensors params = method->named_parameters();
  std::vector<Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  std::vector<Tensor> reversed = take_grads(tensors);

  // The same CE of Cl_adv computed without the reversal.
  std::vector<Tensor> labels;
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  hand_terms(*method, f, labels, /*reverse=*/false)["adv"].backward();
  std::vector<Tensor> straight = take_grads(tensors);

  int checked_encoder = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].first;
    const bool before_grl = name.find(".enc_inv.") != std::string::npos || name.find(".projection.") != std::string::npos;
    const bool after_grl = name.rfind("cl_adv.", 0) == 0;
    if (!before_grl && !after_grl) {
      // enc_spec, the classifiers and the other heads are not reached by L_adv.
      EXPECT_FALSE(reversed[i].defined()) << name;
      continue;
    }
    ASSERT_TRUE(reversed[i].defined() && straight[i].defined()) << name;
    // Before the GRL the gradient is −λ times the plain one; the discriminator's is unchanged.
    testing::expect_close(reversed[i], after_grl ? straight[i] : scale(straight[i], -0.5f), 1e-7, 1e-5, name);
    checked_encoder += before_grl;
  }
  EXPECT_GT(checked_encoder, 0);
}

TEST(DiscomKD, FeaturesAreNonNegativeSoOrthogonalityIsToo) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(8);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  std::vector<Tensor> labels;
  for (const DiscomBranchOutputs& o : branch_features(*method, batch, labels))
    for (const Tensor& z : {o.z_inv, o.z_inf, o.z_irr})
      for (float v : z.to_vector<float>()) ASSERT_GE(v, 0.0f);
  const float orth = parts_of(method->training_loss(batch, TrainProgress{}))["orth"].item();
  EXPECT_GE(orth, 0.0f);
  EXPECT_LE(orth, 4.0f);   // 2 modalities x 2 cosines, each at most 1
}

TEST(DiscomKD, AdamStepsOnAFixedBatchLowerTheTotal) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(9);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  optim::AdamOptions options;
  options.lr = 1e-3;
  optim::Adam adam(method->trainable_parameters(), options);
  std::vector<float> totals;
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    LossTerms loss = method->training_loss(batch, TrainProgress{});
    totals.push_back(loss.total.item());
    loss.total.backward();
    adam.step();
  }
  totals.push_back(method->training_loss(batch, TrainProgress{}).total.item());
  EXPECT_LT(totals.back(), totals.front() - 0.1f) << "first " << totals.front() << ", last " << totals.back();
}

// make_deployable(spec) + the checkpoint's state reproduce the branch's logits; forward (only the
// encoders the classifier reads) agrees with features().logits.
void expect_round_trip(models::DiscomBranch& branch, const Tensor& x, const std::string& what) {
  branch.eval();
  NoGradGuard no_grad;
  Tensor logits = branch.forward(x);
  std::shared_ptr<models::Deployable> rebuilt = models::make_deployable(branch.spec());
  rebuilt->load_state_dict(branch.state_dict(), /*strict=*/true, what);
  rebuilt->eval();
  testing::expect_close(rebuilt->forward(x), logits, 0, 0, what + ": rebuilt");
  testing::expect_close(branch.features(x).logits, logits, 0, 0, what + ": features().logits");
}

TEST(DiscomKD, DeployableRoundTrip) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(10);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  method->training_loss(batch, TrainProgress{});   // moves the batch-norm running statistics off their init
  method->eval();
  std::vector<Tensor> logits;
  {
    NoGradGuard no_grad;
    logits = method->predict(batch);
  }
  for (size_t m = 0; m < 2; ++m) {
    const std::string output = context.modalities[m].name;
    std::shared_ptr<models::Deployable> deployable = method->deployable(output);
    ASSERT_NE(deployable, nullptr);
    EXPECT_EQ(deployable.get(), &method->checkpoint_module(output));
    models::DeploySpec spec = deployable->spec();
    EXPECT_EQ(spec.architecture, "discom_branch");
    const std::map<std::string, int64_t> sizes = {{"in_channels", context.modalities[m].channels},
                                                  {"num_classes", kClasses},
                                                  {"feature_dim", kD},
                                                  {"use_inv", 1},
                                                  {"use_inf", 1}};
    EXPECT_EQ(spec.sizes, sizes);
    NoGradGuard no_grad;
    testing::expect_close(deployable->forward(batch.inputs[m]), logits[m], 0, 0, output + ": deployable vs predict");
    expect_round_trip(method->branch(static_cast<int64_t>(m)), batch.inputs[m], output);
  }
}

TEST(DiscomKD, RepresentationAblationsChangeOnlyTheClassifierInput) {
  Generator gen(11);
  Tensor x = testing::random_normal({kBatch, 1, kSize, kSize}, gen);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, {3});
  for (auto [representation, use_inv, use_inf] :
       {std::make_tuple(models::DiscomRepresentation::InvOnly, 1, 0),
        std::make_tuple(models::DiscomRepresentation::InfOnly, 0, 1)}) {
    const std::string what = models::representation_name(representation);
    models::DiscomBranch branch(1, kClasses, representation);
    EXPECT_EQ(branch.classifier().weight.shape(), (Shape{kClasses, kD})) << what;
    EXPECT_EQ(branch.spec().sizes.at("use_inv"), use_inv) << what;
    EXPECT_EQ(branch.spec().sizes.at("use_inf"), use_inf) << what;
    // Both encoders are still there and the classifier gets gradient only through the block it reads.
    DiscomBranchOutputs f = branch.features(x);
    EXPECT_EQ(f.z_irr.shape(), (Shape{kBatch, kD})) << what;
    cross_entropy(f.logits, y).backward();
    bool inv_reached = false, spec_reached = false;
    for (const auto& [name, p] : branch.named_parameters()) {
      if (!p.grad().defined()) continue;
      inv_reached = inv_reached || name.rfind("enc_inv.", 0) == 0;
      spec_reached = spec_reached || name.rfind("enc_spec.", 0) == 0;
    }
    EXPECT_EQ(inv_reached, use_inv == 1) << what;
    EXPECT_EQ(spec_reached, use_inf == 1) << what;
    expect_round_trip(branch, x, what);
  }
  // The method's "features" key selects the branches' representation.
  io::Config config = io::Config::from_json({{"method", {{"features", "inf_only"}}}}, "test.json");
  EXPECT_EQ(models::parse_discom_options(config.root().child("method"), rgb_depth()).representation,
            models::DiscomRepresentation::InfOnly);
}

TEST(DiscomKD, ThreeModalitiesUseThreeWayHeads) {
  auto context = rgb_depth_thermal();
  auto method = build({}, context);
  EXPECT_EQ(method->num_modalities(), 3);
  for (const auto& head : {method->heads().inf, method->heads().irr, method->heads().adv})
    EXPECT_EQ(head->weight.shape(), (Shape{3, kD}));
  EXPECT_EQ(method->outputs().size(), 3u);
  Generator gen(11);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}, {2, 0, 0}}, gen);
  Terms parts = parts_of(method->training_loss(batch, TrainProgress{}));
  std::vector<Tensor> labels;
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  Terms hand = hand_terms(*method, f, labels);
  for (const std::string& t : kTermNames) expect_scalar_near(parts[t], hand[t], 1e-6, t);
  method->eval();
  NoGradGuard no_grad;
  EXPECT_EQ(method->predict(batch).size(), 3u);
}

TEST(DiscomKD, ModalitySubsetTakesLabelsInTheListedOrder) {
  auto context = rgb_depth_thermal();
  auto method = build({{"modalities", nlohmann::json::array({"thermal", "rgb"})}}, context);
  EXPECT_EQ(method->num_modalities(), 2);
  std::vector<models::MethodOutput> outputs = method->outputs();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].name, "thermal");
  EXPECT_EQ(outputs[0].label_modality, 2);
  EXPECT_EQ(outputs[0].input_modalities, (std::vector<int64_t>{2}));
  EXPECT_EQ(outputs[1].name, "rgb");
  EXPECT_EQ(outputs[1].label_modality, 0);
  EXPECT_EQ(method->branch(0).in_channels(), 1);
  EXPECT_FALSE(keys(method->state_dict()).count("branch_depth.classifier.weight"));

  Generator gen(12);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}, {2, 0, 0}}, gen);
  Terms parts = parts_of(method->training_loss(batch, TrainProgress{}));
  std::vector<Tensor> labels;   // modality label 0 = thermal, 1 = rgb
  std::vector<DiscomBranchOutputs> f = branch_features(*method, batch, labels);
  Terms hand = hand_terms(*method, f, labels);
  for (const std::string& t : kTermNames) expect_scalar_near(parts[t], hand[t], 1e-6, t);
}

TEST(DiscomKD, ConfigurationErrorsNameTheKey) {
  auto context = rgb_depth_thermal();
  {
    // D is fixed by the backbone (the halves of its 512-d feature): no key sets it.
    io::Config config = io::Config::from_json(
        nlohmann::json{{"method", {{"name", "discom_kd"}, {"feature_dim", 256}}}}, "test.json");
    models::make_method(config.root().child("method"), context);
    const std::string message = testing::error_message([&] { config.check_all_used(); });
    EXPECT_TRUE(testing::contains(message, "method.feature_dim")) << message;
  }
  auto expect = [&](nlohmann::json section, const std::string& key, const std::string& also) {
    std::string message = build_error(std::move(section), context);
    EXPECT_TRUE(testing::contains(message, key)) << message;
    EXPECT_TRUE(testing::contains(message, also)) << message;
  };
  expect({{"modalities", nlohmann::json::array({"rgb"})}}, "method.modalities", "at least 2");
  expect({{"modalities", nlohmann::json::array({"rgb", "sonar"})}}, "method.modalities", "sonar");
  expect({{"modalities", nlohmann::json::array({"rgb", "rgb"})}}, "method.modalities", "twice");
  expect({{"grl_lambda", -1.0}}, "method.grl_lambda", ">= 0");
  expect({{"features", "spec_only"}}, "method.features", "inv_only");
  expect({{"loss", {{"adv", "yes"}}}}, "method.loss.adv", "");
  expect({{"weights", {{"orth", -2.0}}}}, "method.weights.orth", ">= 0");
  nlohmann::json all_off;
  for (const std::string& t : kTermNames) all_off[t] = false;
  expect({{"loss", all_off}}, "method.loss", "switched off");

  models::MethodContext segmentation = rgb_depth();
  segmentation.task = data::Task::Segmentation;
  EXPECT_TRUE(testing::contains(build_error({}, segmentation), "classification"));
  models::MethodContext one = make_context({{"rgb", 3}});
  EXPECT_TRUE(testing::contains(build_error({}, one), "method.modalities"));
}

TEST(DiscomKD, DeploySpecErrorsNameTheSize) {
  models::DeploySpec spec{"discom_branch", {{"in_channels", 1}, {"num_classes", 4}, {"feature_dim", 256}, {"use_inv", 1}}};
  EXPECT_TRUE(testing::contains(testing::error_message([&] { models::make_deployable(spec); }), "use_inf"));
  spec.sizes["use_inf"] = 1;
  spec.sizes["feature_dim"] = 128;
  EXPECT_TRUE(testing::contains(testing::error_message([&] { models::make_deployable(spec); }), "feature_dim"));
  spec.sizes["feature_dim"] = 256;
  spec.sizes["use_inv"] = 0;
  spec.sizes["use_inf"] = 0;
  EXPECT_TRUE(testing::contains(testing::error_message([&] { models::make_deployable(spec); }), "use_inv"));
}

TEST(DiscomKD, BatchWithoutLabelsOrWrongChannelsIsAnError) {
  auto context = rgb_depth();
  auto method = build({}, context);
  Generator gen(13);
  data::Batch batch = make_batch(context, {{0, 1, 2}, {3, 3, 1}}, gen);
  data::Batch unlabeled = batch;
  unlabeled.labels.clear();
  EXPECT_TRUE(testing::contains(testing::error_message([&] { method->training_loss(unlabeled, TrainProgress{}); }), "discom_kd"));
  data::Batch swapped = batch;
  std::swap(swapped.inputs[0], swapped.inputs[1]);
  std::string message = testing::error_message([&] { method->training_loss(swapped, TrainProgress{}); });
  EXPECT_TRUE(testing::contains(message, "DiscomBranch") && testing::contains(message, "(3, 1, 32, 32)")) << message;
}

}  // namespace
}  // namespace xmkd
