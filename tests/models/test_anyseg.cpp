// AnySeg (models/anyseg.h, losses/anyseg.h): the shared-trunk network and its per-stage fusion,
// the outputs (one per non-empty modality subset), the any-modal dropout, the student's loss
// terms (against PyTorch and recomputed by hand from the network's intermediates), the frozen
// teacher loaded from a run directory, training steps, the deployable branch and config errors.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/autograd.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "models/anyseg.h"
#include "models/methods.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tools/train/run_info.h"

namespace xmkd {
namespace {

using models::AnySegForward;
using models::AnySegMethod;
using models::AnySegStudent;
using models::MethodContext;

constexpr int64_t kClasses = 4;
constexpr int64_t kSize = 32;

// rgb (3 channels), depth (1), and for M = 3 thermal (1); segmentation with 4 classes.
MethodContext context_of(int modalities) {
  MethodContext c;
  c.modalities = {{"rgb", 3}, {"depth", 1}};
  if (modalities == 3) c.modalities.push_back({"thermal", 1});
  c.task = data::Task::Segmentation;
  c.num_classes = kClasses;
  c.load_teacher = train::load_trained_method;   // the student's frozen teacher, as the trainer loads it
  return c;
}

// Batch of 2 at 32x32; joint augmentation: every modality shares one label map (some pixels 255).
data::Batch make_batch(const MethodContext& context, uint64_t seed) {
  Generator gen(seed);
  data::Batch batch;
  for (const data::ModalitySpec& m : context.modalities)
    batch.inputs.push_back(testing::random_normal({2, m.channels, kSize, kSize}, gen));
  Tensor labels = testing::random_labels({2, kSize, kSize}, kClasses, gen, /*ignored=*/100, data::kIgnoreLabel);
  batch.label_maps.assign(context.modalities.size(), labels);
  return batch;
}

// A "method" section; errors then name keys "method.<key>".
io::ConfigNode method_config(const nlohmann::json& method) {
  return io::Config::from_json(nlohmann::json{{"method", method}}, "test.json").root().child("method");
}

std::shared_ptr<AnySegMethod> build(const nlohmann::json& method, const MethodContext& context) {
  auto built = std::dynamic_pointer_cast<AnySegMethod>(models::make_method(method_config(method), context));
  EXPECT_TRUE(built) << method.dump();
  return built;
}

// A teacher run written by hand: config.json and best/<output>.safetensors of the checkpoint module.
struct TeacherRun {
  std::string dir;
  std::shared_ptr<AnySegMethod> teacher;
  TeacherRun(const MethodContext& context, uint64_t seed) {
    char pattern[] = "/tmp/xmkd_anyseg_XXXXXX";
    dir = mkdtemp(pattern);
    manual_seed(seed);
    teacher = build({{"name", "anyseg_teacher"}}, context);
    std::ofstream(dir + "/config.json") << R"({"method": {"name": "anyseg_teacher"}})";
    std::filesystem::create_directories(dir + "/best");
    std::string output = teacher->outputs().back().name;
    io::save_safetensors(train::RunFiles{dir}.best(output), teacher->checkpoint_module(output).state_dict());
  }
  ~TeacherRun() { std::filesystem::remove_all(dir); }
};

std::shared_ptr<AnySegStudent> build_student(const TeacherRun& run, const MethodContext& context) {
  auto student = std::dynamic_pointer_cast<AnySegStudent>(
      models::make_method(method_config({{"name", "anyseg_student"}, {"teacher", {{"run", run.dir}}}}), context));
  EXPECT_TRUE(student);
  return student;
}

std::vector<int64_t> all_of(const AnySegMethod& method) { return method.modalities(); }

// ---- host references, in double ------------------------------------------------------------

// Softmax over dim 1 of (N,C,H,W) at position (n, p): the C values at stride H·W.
std::vector<double> softmax_at(const std::vector<float>& x, int64_t channels, int64_t plane, int64_t n, int64_t p) {
  std::vector<double> out(static_cast<size_t>(channels));
  double top = -1e300, total = 0.0;
  for (int64_t c = 0; c < channels; ++c) top = std::max(top, static_cast<double>(x[(n * channels + c) * plane + p]));
  for (int64_t c = 0; c < channels; ++c) total += out[c] = std::exp(x[(n * channels + c) * plane + p] - top);
  for (double& v : out) v /= total;
  return out;
}

// Mean over positions of KL(softmax_c(teacher) ‖ softmax_c(student)).
double host_kl(const Tensor& student, const Tensor& teacher) {
  std::vector<float> s = student.to_vector<float>(), t = teacher.to_vector<float>();
  int64_t n = student.dim(0), channels = student.dim(1), plane = student.numel() / (n * channels);
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < plane; ++p) {
      std::vector<double> ps = softmax_at(s, channels, plane, i, p), pt = softmax_at(t, channels, plane, i, p);
      for (int64_t c = 0; c < channels; ++c) total += pt[c] * (std::log(pt[c]) - std::log(ps[c]));
    }
  return total / static_cast<double>(n * plane);
}

// Per-position cosine of the channel vectors, each norm clamped at 1e-8.
std::vector<double> host_cosine_map(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  int64_t n = a.dim(0), channels = a.dim(1), plane = a.numel() / (n * channels);
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < plane; ++p) {
      double dot = 0, xx = 0, yy = 0;
      for (int64_t c = 0; c < channels; ++c) {
        double u = x[(i * channels + c) * plane + p], v = y[(i * channels + c) * plane + p];
        dot += u * v;
        xx += u * u;
        yy += v * v;
      }
      out.push_back(dot / (std::max(std::sqrt(xx), 1e-8) * std::max(std::sqrt(yy), 1e-8)));
    }
  return out;
}

double host_cross_entropy(const Tensor& logits, const Tensor& labels) {
  std::vector<float> x = logits.to_vector<float>();
  std::vector<int64_t> y = labels.to_vector<int64_t>();
  int64_t n = logits.dim(0), classes = logits.dim(1), plane = logits.numel() / (n * classes);
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < plane; ++p) {
      int64_t label = y[i * plane + p];
      if (label == data::kIgnoreLabel) continue;
      total -= std::log(softmax_at(x, classes, plane, i, p)[label]);
      ++counted;
    }
  return total / static_cast<double>(counted);
}

// ---- the network --------------------------------------------------------------------------

TEST(AnySegNetwork, FeatureAndLogitShapes) {
  MethodContext context = context_of(2);
  auto method = build({{"name", "anyseg_teacher"}}, context);
  data::Batch batch = make_batch(context, 1);
  AnySegForward f = method->network().forward(batch.inputs, {0, 1});
  const Shape stages[4] = {{2, 64, 8, 8}, {2, 128, 4, 4}, {2, 256, 2, 2}, {2, 512, 1, 1}};
  ASSERT_EQ(f.features.size(), 4u);
  ASSERT_EQ(f.fused.size(), 4u);
  for (size_t s = 0; s < 4; ++s) {
    ASSERT_EQ(f.features[s].size(), 2u);
    for (const Tensor& t : f.features[s]) EXPECT_EQ(t.shape(), stages[s]) << "stage " << s;
    EXPECT_EQ(f.fused[s].shape(), stages[s]);
  }
  EXPECT_EQ(f.logits.shape(), (Shape{2, kClasses, kSize, kSize}));
  // One stem per modality (its own input channels), one trunk, one decoder.
  TensorMap state = method->state_dict();
  EXPECT_EQ(state.at("network.stems.0.conv1.weight").shape(), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(state.at("network.stems.1.conv1.weight").shape(), (Shape{64, 1, 7, 7}));
  EXPECT_TRUE(state.count("network.trunk.layer4.1.bn2.running_var"));
  EXPECT_TRUE(state.count("network.decoder.classifier.weight"));
  EXPECT_FALSE(state.count("network.stems.2.conv1.weight"));
  testing::expect_error_naming([&] { method->network().forward(batch.inputs, {}); }, "AnySegNetwork", "empty");
  testing::expect_error_naming([&] { method->network().forward(batch.inputs, {0, 0}); }, "AnySegNetwork", "twice");
  testing::expect_error_naming([&] { method->network().forward(batch.inputs, {2}); }, "AnySegNetwork", "modality 2");
}

TEST(AnySegNetwork, FusedFeaturesAreTheMeanOfThePresentModalities) {
  MethodContext context = context_of(3);
  auto method = build({{"name", "anyseg_teacher"}}, context);
  method->eval();
  NoGradGuard no_grad;
  data::Batch batch = make_batch(context, 2);
  models::AnySegNetwork& net = method->network();
  std::vector<std::vector<Tensor>> alone;
  for (int64_t m = 0; m < 3; ++m) alone.push_back(net.encode(batch.inputs[m], m));

  for (int64_t m = 0; m < 3; ++m) {
    AnySegForward f = net.forward(batch.inputs, {m});
    for (size_t s = 0; s < 4; ++s) testing::expect_close(f.fused[s], alone[m][s], 0.0, 0.0, "one modality, stage " + std::to_string(s));
  }
  // Two: (a + b)·0.5 rounds the same in the network and here. Three: within float rounding.
  AnySegForward pair = net.forward(batch.inputs, {0, 2});
  AnySegForward triple = net.forward(batch.inputs, {0, 1, 2});
  for (size_t s = 0; s < 4; ++s) {
    std::vector<float> a = alone[0][s].to_vector<float>(), b = alone[1][s].to_vector<float>(),
                       c = alone[2][s].to_vector<float>();
    std::vector<float> mean2(a.size()), mean3(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      mean2[i] = (a[i] + c[i]) * 0.5f;
      mean3[i] = static_cast<float>((static_cast<double>(a[i]) + b[i] + c[i]) / 3.0);
    }
    Shape shape = alone[0][s].shape();
    testing::expect_close(pair.fused[s], Tensor::from_vector(mean2, shape), 0.0, 0.0, "two modalities, stage " + std::to_string(s));
    testing::expect_close(triple.fused[s], Tensor::from_vector(mean3, shape), 1e-6, 1e-6, "three modalities, stage " + std::to_string(s));
    testing::expect_close(triple.features[s][1], alone[1][s], 0.0, 0.0, "per-modality features, stage " + std::to_string(s));
  }
}

// ---- outputs and predict ------------------------------------------------------------------

TEST(AnySegMethod, OneOutputPerNonEmptySubset) {
  MethodContext context = context_of(3);
  auto three = build({{"name", "anyseg_teacher"}}, context);
  std::vector<std::string> names;
  for (const auto& o : three->outputs()) {
    names.push_back(o.name);
    EXPECT_EQ(o.label_modality, 0);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"rgb", "depth", "thermal", "rgb+depth", "rgb+thermal", "depth+thermal",
                                             "rgb+depth+thermal"}));
  EXPECT_EQ(three->outputs()[5].input_modalities, (std::vector<int64_t>{1, 2}));

  three->eval();
  NoGradGuard no_grad;
  data::Batch batch = make_batch(context, 3);
  std::vector<Tensor> logits = three->predict(batch);
  ASSERT_EQ(logits.size(), 7u);
  for (size_t i = 0; i < logits.size(); ++i) {
    EXPECT_EQ(logits[i].shape(), (Shape{2, kClasses, kSize, kSize}));
    Tensor direct = three->network().forward(batch.inputs, three->outputs()[i].input_modalities).logits;
    testing::expect_close(logits[i], direct, 0.0, 0.0, "predict " + three->outputs()[i].name);
  }

  // The "modalities" key picks some of the dataset's; names and inputs stay in dataset order.
  auto chosen = build({{"name", "anyseg_teacher"}, {"modalities", {"thermal", "rgb"}}}, context);
  names.clear();
  for (const auto& o : chosen->outputs()) names.push_back(o.name);
  EXPECT_EQ(names, (std::vector<std::string>{"rgb", "thermal", "rgb+thermal"}));
  EXPECT_EQ(chosen->outputs()[2].input_modalities, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(chosen->predict(batch).size(), 3u);
}

// ---- any-modal dropout ----------------------------------------------------------------------

TEST(AnySegDropout, NeverEmptyCoversEverySubsetDrawsSizesUniformly) {
  const int64_t count = 3, draws = 3000;
  Generator gen(7);
  std::map<std::vector<int64_t>, int64_t> seen;
  std::vector<int64_t> sizes(count + 1, 0);
  for (int64_t i = 0; i < draws; ++i) {
    std::vector<int64_t> kept = models::draw_modality_subset(count, gen);
    ASSERT_FALSE(kept.empty());
    for (size_t j = 0; j < kept.size(); ++j) {
      ASSERT_TRUE(kept[j] >= 0 && kept[j] < count);
      if (j > 0) {
        ASSERT_LT(kept[j - 1], kept[j]);   // sorted, distinct
      }
    }
    ++seen[kept];
    ++sizes[kept.size()];
  }
  EXPECT_EQ(seen.size(), 7u);   // every non-empty subset of 3
  // k uniform in [1, 3] (1/3 each) and, given k, a uniform k-subset: the singletons and the pairs
  // each come 1/9 of the time, the full set 1/3. Bounds are about ±5 standard deviations.
  for (int64_t k = 1; k <= count; ++k) EXPECT_NEAR(sizes[k] / double(draws), 1.0 / 3.0, 0.045) << "k = " << k;
  for (const auto& [subset, n] : seen) {
    if (subset.size() < 3) {
      EXPECT_NEAR(n / double(draws), 1.0 / 9.0, 0.03) << subset.size();
    }
  }

  Generator a(11), b(11), c(12);
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    std::vector<int64_t> x = models::draw_modality_subset(4, a), y = models::draw_modality_subset(4, b);
    EXPECT_EQ(x, y);
    differs = differs || x != models::draw_modality_subset(4, c);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(models::nonempty_subsets(2), (std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}}));
}

// ---- the student's loss -----------------------------------------------------------------------

TEST(AnySegLosses, MatchPyTorch) {
  TensorMap fx = testing::load_fixture("anyseg_losses");
  losses::StageFeatures student(2), teacher(2), student0(2), teacher0(2);
  for (int s = 0; s < 2; ++s)
    for (int j = 0; j < 3; ++j) {
      std::string key = "_s" + std::to_string(s) + "_m" + std::to_string(j);
      student[s].push_back(testing::requiring_grad(testing::fixture_tensor(fx, "student" + key).clone()));
      teacher[s].push_back(testing::fixture_tensor(fx, "teacher" + key));
    }
  for (int s = 0; s < 2; ++s) {
    student0[s] = {student[s][0]};
    teacher0[s] = {teacher[s][0]};
  }
  Tensor logits = testing::requiring_grad(testing::fixture_tensor(fx, "student_logits").clone());
  Tensor teacher_logits = testing::fixture_tensor(fx, "teacher_logits");
  Tensor labels = testing::fixture_tensor(fx, "labels");

  LossTerms terms = losses::anyseg_student_loss(logits, labels, teacher_logits, student, teacher, {});
  std::map<std::string, Tensor> parts(terms.parts.begin(), terms.parts.end());
  for (const char* name : {"ce", "umd", "cmd", "mad"})
    testing::expect_close(parts.at(name), testing::fixture_tensor(fx, name), 1e-6, 1e-5, name);
  testing::expect_close(terms.total, testing::fixture_tensor(fx, "total"), 1e-6, 1e-5, "total");
  testing::expect_close(losses::unimodal_distillation_loss(student0, teacher0), testing::fixture_tensor(fx, "umd_m0"),
                        1e-6, 1e-5, "umd, one modality");
  EXPECT_EQ(losses::crossmodal_distillation_loss(student0, teacher0).item(), 0.0f);   // no pair

  terms.total.backward();
  testing::expect_close(logits.grad(), testing::fixture_tensor(fx, "grad_student_logits"), 1e-6, 1e-4, "grad logits");
  for (int s = 0; s < 2; ++s)
    for (int j = 0; j < 3; ++j) {
      std::string key = "grad_student_s" + std::to_string(s) + "_m" + std::to_string(j);
      testing::expect_close(student[s][j].grad(), testing::fixture_tensor(fx, key), 1e-6, 1e-4, key);
    }

  losses::StageFeatures short_teacher = {teacher[0]};
  testing::expect_error_naming([&] { losses::unimodal_distillation_loss(student, short_teacher); }, "anyseg L_umd", "stages");
  losses::StageFeatures swapped = {teacher[1], teacher[0]};
  testing::expect_error_naming([&] { losses::crossmodal_distillation_loss(student, swapped); }, "anyseg L_cmd", "(2, 4, 3, 3)");
}

TEST(AnySegStudent, LossPartsEqualTheirRecomputationFromIntermediates) {
  MethodContext context = context_of(3);
  TeacherRun run(context, 21);
  auto student = build_student(run, context);
  AnySegMethod& teacher = student->teacher();
  data::Batch batch = make_batch(context, 4);
  std::map<size_t, uint64_t> seed_of_size;   // one generator seed per kept-subset size 1, 2, 3
  for (uint64_t seed = 0; seed_of_size.size() < 3 && seed < 100; ++seed) {
    Generator replay(seed);
    seed_of_size.emplace(models::draw_modality_subset(3, replay).size(), seed);
  }
  ASSERT_EQ(seed_of_size.size(), 3u);
  for (const auto& [size, seed] : seed_of_size) {
    Generator gen(seed), replay(seed);
    TrainProgress progress;
    progress.gen = &gen;
    LossTerms terms = student->training_loss(batch, progress);
    std::vector<int64_t> expected_kept = models::draw_modality_subset(3, replay);   // dataset order = positions here
    ASSERT_EQ(student->last_kept(), expected_kept);

    NoGradGuard no_grad;
    // Train-mode batch norm: the same batch gives the student the same features again.
    AnySegForward s = student->network().forward(batch.inputs, expected_kept);
    AnySegForward t = teacher.network().forward(batch.inputs, all_of(teacher));
    double umd = 0.0, cmd = 0.0;
    int64_t umd_terms = 0, cmd_terms = 0;
    for (size_t stage = 0; stage < 4; ++stage) {
      for (size_t j = 0; j < expected_kept.size(); ++j) {
        umd += host_kl(s.features[stage][j], t.features[stage][expected_kept[j]]);
        ++umd_terms;
        for (size_t i = 0; i < j; ++i) {
          std::vector<double> cs = host_cosine_map(s.features[stage][i], s.features[stage][j]);
          std::vector<double> ct = host_cosine_map(t.features[stage][expected_kept[i]], t.features[stage][expected_kept[j]]);
          double se = 0.0;
          for (size_t p = 0; p < cs.size(); ++p) se += (cs[p] - ct[p]) * (cs[p] - ct[p]);
          cmd += se / static_cast<double>(cs.size());
          ++cmd_terms;
        }
      }
    }
    umd /= umd_terms;
    if (cmd_terms > 0) cmd /= cmd_terms;
    double ce = host_cross_entropy(s.logits, batch.label_maps[0]);
    double mad = host_kl(s.logits, t.logits);

    std::map<std::string, float> parts;
    for (const auto& [name, value] : terms.parts) parts[name] = value.item();
    ASSERT_EQ(parts.size(), 4u);
    std::string what = "kept " + student->subset_name(expected_kept);
    EXPECT_NEAR(parts["ce"], ce, 1e-4 * ce) << what;
    EXPECT_NEAR(parts["umd"], umd, 1e-4 * umd + 1e-7) << what;
    EXPECT_NEAR(parts["cmd"], cmd, 1e-4 * cmd + 1e-7) << what;
    EXPECT_NEAR(parts["mad"], mad, 1e-4 * mad + 1e-7) << what;
    if (size == 1) {
      EXPECT_EQ(parts["cmd"], 0.0f);
    } else {
      EXPECT_GT(parts["cmd"], 0.0f);
    }
    EXPECT_GT(parts["umd"], 0.0f);
    EXPECT_GT(parts["mad"], 0.0f);
    EXPECT_NEAR(terms.total.item(), ce + 5 * umd + 10 * cmd + 50 * mad, 1e-4 * terms.total.item()) << what;
  }
}

TEST(AnySegStudent, TeacherIsLoadedFrozenAndNeverSaved) {
  MethodContext context = context_of(2);
  TeacherRun run(context, 31);
  auto student = build_student(run, context);
  AnySegMethod& teacher = student->teacher();
  EXPECT_NE(&teacher, run.teacher.get());   // loaded from the run, not shared
  EXPECT_FALSE(teacher.is_training());

  // The loaded teacher holds the checkpoint's values.
  TensorMap written = run.teacher->state_dict(), loaded = teacher.state_dict();
  ASSERT_EQ(written.size(), loaded.size());
  for (const auto& [name, value] : written) {
    if (value.dtype() != DType::Float32) continue;
    testing::expect_close(loaded.at(name), value, 0.0, 0.0, name);
  }
  // The student's state and parameters are its own network's: the same names as a teacher's.
  TensorMap own = student->state_dict();
  EXPECT_EQ(own.size(), written.size());
  for (const auto& entry : own) EXPECT_TRUE(written.count(entry.first)) << entry.first;
  EXPECT_EQ(student->trainable_parameters().size(), teacher.named_parameters().size());

  student->train();
  EXPECT_FALSE(teacher.is_training());
  data::Batch batch = make_batch(context, 5);
  std::string m = testing::error_message([&] { student->training_loss(batch, TrainProgress{}); });
  EXPECT_TRUE(testing::contains(m, "anyseg_student") && testing::contains(m, "gen")) << m;
  Generator gen(3);
  TrainProgress progress;
  progress.gen = &gen;
  student->training_loss(batch, progress).total.backward();
  for (const auto& [name, p] : teacher.named_parameters()) EXPECT_FALSE(p.grad().defined()) << name;
  int64_t with_grad = 0;
  for (const auto& [name, p] : student->named_parameters()) with_grad += p.grad().defined();
  EXPECT_GT(with_grad, 0);
}

// ---- training ---------------------------------------------------------------------------------

TEST(AnySeg, AdamStepsOnAFixedBatchLowerTheLoss) {
  MethodContext context = context_of(2);
  TeacherRun run(context, 41);
  data::Batch batch = make_batch(context, 6);
  auto train = [&](AnySegMethod& method, uint64_t subset_seed) {
    optim::AdamOptions options;
    options.lr = 1e-3;
    optim::Adam adam(method.trainable_parameters(), options);
    method.train();
    std::vector<float> losses;
    for (int step = 0; step < 3; ++step) {
      Generator gen(subset_seed);   // the same kept subset every step: a fixed objective
      TrainProgress progress;
      progress.gen = &gen;
      adam.zero_grad();
      LossTerms terms = method.training_loss(batch, progress);
      losses.push_back(terms.total.item());
      terms.total.backward();
      adam.step();
    }
    EXPECT_LT(losses.back(), losses.front()) << method.name();
    for (float l : losses) EXPECT_TRUE(std::isfinite(l)) << method.name();
  };
  train(*run.teacher, 0);

  auto student = build_student(run, context);
  TensorMap teacher_before;
  for (const auto& [name, t] : student->teacher().state_dict()) teacher_before[name] = t.clone();
  uint64_t both = 0;   // a seed whose draw keeps both modalities: every term is active
  for (Generator g(both); models::draw_modality_subset(2, g).size() != 2; g = Generator(++both)) {}
  train(*student, both);
  for (const auto& [name, t] : student->teacher().state_dict()) {
    if (t.dtype() == DType::Float32) testing::expect_close(t, teacher_before.at(name), 0.0, 0.0, "teacher " + name);
  }
}

// ---- deployment ---------------------------------------------------------------------------------

TEST(AnySeg, SingleModalityDeployableMatchesPredict) {
  MethodContext context = context_of(2);
  auto method = build({{"name", "anyseg_teacher"}}, context);
  std::vector<std::string> names;
  for (const auto& o : method->outputs()) names.push_back(o.name);
  EXPECT_EQ(names, (std::vector<std::string>{"rgb", "depth", "rgb+depth"}));
  EXPECT_EQ(method->outputs()[2].input_modalities, (std::vector<int64_t>{0, 1}));
  method->eval();
  NoGradGuard no_grad;
  data::Batch batch = make_batch(context, 7);
  std::vector<Tensor> logits = method->predict(batch);
  for (int64_t m = 0; m < 2; ++m) {
    const std::string output = method->outputs()[m].name;
    std::shared_ptr<models::Deployable> branch = method->deployable(output);
    ASSERT_TRUE(branch) << output;
    branch->eval();
    models::DeploySpec spec = branch->spec();
    EXPECT_EQ(spec.architecture, "anyseg_branch");
    EXPECT_EQ(spec.sizes.at("in_channels"), context.modalities[m].channels);
    EXPECT_EQ(spec.sizes.at("num_classes"), kClasses);
    testing::expect_close(branch->forward(batch.inputs[m]), logits[m], 0.0, 0.0, "deployable " + output);

    // Shares the method's parameters.
    TensorMap state = branch->state_dict(), whole = method->state_dict();
    EXPECT_EQ(state.at("stem.conv1.weight").raw_data(),
              whole.at("network.stems." + std::to_string(m) + ".conv1.weight").raw_data());
    EXPECT_EQ(state.at("trunk.layer1.0.conv1.weight").raw_data(), whole.at("network.trunk.layer1.0.conv1.weight").raw_data());
    // Rebuilt from its spec (what `xmkd predict` does), it loads the state and predicts the same.
    std::shared_ptr<models::Deployable> rebuilt = models::make_deployable(spec);
    rebuilt->load_state_dict(state, /*strict=*/true);
    rebuilt->eval();
    testing::expect_close(rebuilt->forward(batch.inputs[m]), logits[m], 0.0, 0.0, "rebuilt " + output);
  }
  EXPECT_EQ(method->deployable("rgb+depth"), nullptr);
  EXPECT_EQ(&method->checkpoint_module("rgb"), method.get());
  EXPECT_EQ(&method->checkpoint_module("rgb+depth"), method.get());
  testing::expect_error_naming([&] { method->checkpoint_module("rgb+sonar"); }, "anyseg_teacher", "rgb, depth, rgb+depth");
  testing::expect_error_naming([&] { models::make_deployable({"anyseg_branch", {{"in_channels", 3}}}); }, "anyseg_branch",
                               "num_classes");
}

// ---- configuration ----------------------------------------------------------------------------

TEST(AnySeg, ConfigErrorsNameTheKey) {
  using testing::contains;
  using testing::error_message;
  MethodContext context = context_of(2);
  auto message = [&](const nlohmann::json& method) {
    return error_message([&] { models::make_method(method_config(method), context); });
  };
  std::string m = message({{"name", "anyseg_teacher"}, {"modalities", {"rgb"}}});
  EXPECT_TRUE(contains(m, "method.modalities") && contains(m, "at least 2")) << m;
  m = message({{"name", "anyseg_teacher"}, {"modalities", {"rgb", "sonar"}}});
  EXPECT_TRUE(contains(m, "method.modalities") && contains(m, "sonar") && contains(m, "rgb, depth")) << m;
  m = message({{"name", "anyseg_teacher"}, {"modalities", {"rgb", "rgb"}}});
  EXPECT_TRUE(contains(m, "method.modalities") && contains(m, "twice")) << m;
  m = message({{"name", "anyseg_student"}});
  EXPECT_TRUE(contains(m, "method.teacher.run")) << m;
  m = message({{"name", "anyseg_student"}, {"teacher", {{"run", "/nonexistent/xmkd_teacher"}}}});
  EXPECT_TRUE(contains(m, "method.teacher.run") && contains(m, "does not exist")) << m;

  TeacherRun run(context, 51);
  m = message({{"name", "anyseg_student"}, {"teacher", {{"run", run.dir}, {"output", "rgb+sonar"}}}});
  EXPECT_TRUE(contains(m, "method.teacher.output") && contains(m, "rgb+depth")) << m;
  // A valid output whose best checkpoint the run does not have.
  m = message({{"name", "anyseg_student"}, {"teacher", {{"run", run.dir}, {"output", "depth"}}}});
  EXPECT_TRUE(contains(m, "method.teacher.run") && contains(m, "depth.safetensors")) << m;
  m = message({{"name", "anyseg_student"}, {"teacher", {{"run", run.dir}}}, {"weights", {{"umd", -1.0}}}});
  EXPECT_TRUE(contains(m, "method.weights.umd") && contains(m, ">= 0")) << m;

  MethodContext classification = context;
  classification.task = data::Task::Classification;
  m = error_message([&] { models::make_method(method_config({{"name", "anyseg_teacher"}}), classification); });
  EXPECT_TRUE(contains(m, "anyseg_teacher") && contains(m, "segmentation")) << m;

  data::Batch unlabelled = make_batch(context, 9);
  unlabelled.label_maps.clear();
  m = error_message([&] { run.teacher->training_loss(unlabelled, TrainProgress{}); });
  EXPECT_TRUE(contains(m, "anyseg_teacher") && contains(m, "label maps")) << m;
}

}  // namespace
}  // namespace xmkd
