// The §2 baselines (student, sum-fusion teacher, kd student): outputs and shapes for both tasks,
// gradients reaching every parameter, overfitting one batch, state dict names, deployables that
// share the method's parameters and round-trip through safetensors, the teacher's fusion, a
// frozen teacher loaded from a hand-written run directory, and configuration errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/autograd.h"
#include "engine/io/config.h"
#include "engine/io/safetensors.h"
#include "engine/optim/optimizer.h"
#include "models/baselines.h"
#include "models/methods.h"
#include "tests/support/errors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/temp_dir.h"
#include "tools/train/run_info.h"

namespace xmkd {
namespace {

using data::Task;
using models::Method;
using models::MethodContext;

constexpr int64_t kClasses = 4;
constexpr int64_t kSize = 32;
// Gradient and overfitting tests use 4 samples: at 32x32, layer4's batch norms see a 1x1 map,
// and over only 2 values a batch norm's output is ±1 whatever its input (a vanishing gradient).
constexpr int64_t kTrainBatch = 4;

MethodContext context(Task task) {
  MethodContext c;
  c.modalities = {{"rgb", 3}, {"depth", 1}};
  c.task = task;
  c.num_classes = kClasses;
  c.load_teacher = train::load_trained_method;   // a kd student's teacher, as the trainer loads it
  return c;
}

// Paired modalities: one label tensor (and one label map, some pixels 255) shared by both.
data::Batch make_batch(Task task, int64_t n, uint64_t seed) {
  Generator gen(seed);
  data::Batch batch;
  batch.inputs = {testing::random_normal({n, 3, kSize, kSize}, gen), testing::random_normal({n, 1, kSize, kSize}, gen)};
  if (task == Task::Classification) {
    Tensor labels = testing::random_labels({n}, kClasses, gen);
    batch.labels = {labels, labels};
  } else {
    // One class per 8x8 block (a map the decoder can fit within a few steps), some pixels 255.
    Tensor blocks = testing::random_labels({n, kSize / 8, kSize / 8}, kClasses, gen);
    Tensor ignored = testing::random_labels({n, kSize, kSize}, 1, gen, /*ignored=*/40, /*ignore_index=*/255);
    std::vector<int64_t> block = blocks.to_vector<int64_t>(), ignore = ignored.to_vector<int64_t>(), map;
    for (int64_t i = 0; i < n * kSize * kSize; ++i) {
      int64_t sample = i / (kSize * kSize), y = i / kSize % kSize, x = i % kSize;
      map.push_back(ignore[i] == 255 ? 255 : block[(sample * (kSize / 8) + y / 8) * (kSize / 8) + x / 8]);
    }
    Tensor maps = Tensor::from_vector(map, {n, kSize, kSize});
    batch.label_maps = {maps, maps};
  }
  return batch;
}

std::shared_ptr<Method> build(const nlohmann::json& method, Task task) {
  io::Config config = io::Config::from_json({{"method", method}}, "test.json");
  return models::make_method(config.root().child("method"), context(task));
}

std::set<std::string> keys(const TensorMap& state) {
  std::set<std::string> out;
  for (const auto& [name, t] : state) out.insert(name);
  return out;
}

bool any_nonzero(const Tensor& t) {
  for (float v : t.to_vector<float>())
    if (v != 0.0f) return true;
  return false;
}

void expect_same_values(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_EQ(actual.to_vector<float>(), expected.to_vector<float>()) << what;
}

// One training loss: finite, and its backward reaches every parameter of `names` with a
// nonzero gradient.
void expect_gradient_everywhere(Method& method, Task task, const NamedTensors& parameters) {
  method.train();
  method.zero_grad();
  data::Batch batch = make_batch(task, kTrainBatch, 11);
  LossTerms loss = method.training_loss(batch, TrainProgress{});
  ASSERT_EQ(loss.total.numel(), 1);
  ASSERT_TRUE(std::isfinite(loss.total.item())) << loss.total.item();
  loss.total.backward();
  ASSERT_FALSE(parameters.empty());
  for (const auto& [name, p] : parameters) {
    ASSERT_TRUE(p.grad().defined()) << name << " got no gradient";
    EXPECT_TRUE(any_nonzero(p.grad())) << name << " got an all-zero gradient";
  }
}

// One forward pass in train mode: the batch norms' running statistics leave their defaults,
// so that evaluation-mode comparisons see trained-looking state.
void warm_up(Method& method, Task task) {
  method.train();
  NoGradGuard no_grad;
  method.training_loss(make_batch(task, kTrainBatch, 13), TrainProgress{});
}

// A few Adam steps on one fixed batch lower its loss below `ratio` times the first (measured:
// classification CE falls from ~1.5 to below 0.01, segmentation CE to about half; the kdv2 loss,
// whose T²·KL at T = 4 moves slowly, to about 0.8 of the first).
void expect_overfits(Method& method, Task task, float ratio = 0.8f) {
  method.train();
  data::Batch batch = make_batch(task, kTrainBatch, 12);
  optim::AdamOptions options;
  options.lr = 1e-3;
  optim::Adam adam(method.trainable_parameters(), options);
  float first = 0, last = 0;
  for (int step = 0; step < 6; ++step) {
    adam.zero_grad();
    LossTerms loss = method.training_loss(batch, TrainProgress{});
    (step == 0 ? first : last) = loss.total.item();
    loss.total.backward();
    adam.step();
  }
  EXPECT_LT(last, ratio * first) << "first " << first << ", after 5 steps " << last;
}

// A run directory with its best/ folder, inside a test's temporary directory.
std::string run_dir(const testing::TempDir& temp) {
  std::filesystem::create_directories(temp.root() / "best");
  return temp.root().string();
}

// A finished run as the trainer leaves it, as far as load_trained_method reads it.
void write_run(const std::string& dir, const nlohmann::json& method, const std::string& output, const TensorMap& best) {
  std::ofstream(dir + "/config.json") << nlohmann::json{{"method", method}}.dump(2);
  io::save_safetensors(train::RunFiles{dir}.best(output), best);
}

// ---- student -------------------------------------------------------------------------------

TEST(Student, ClassifierOutputAndShapes) {
  auto method = build({{"name", "student"}, {"modality", "depth"}}, Task::Classification);
  EXPECT_EQ(method->name(), "student");
  ASSERT_EQ(method->outputs().size(), 1u);
  EXPECT_EQ(method->outputs()[0].name, "depth");
  EXPECT_EQ(method->outputs()[0].label_modality, 1);
  EXPECT_EQ(method->outputs()[0].input_modalities, (std::vector<int64_t>{1}));
  method->eval();
  NoGradGuard no_grad;
  std::vector<Tensor> logits = method->predict(make_batch(Task::Classification, 2, 1));
  ASSERT_EQ(logits.size(), 1u);
  EXPECT_EQ(logits[0].shape(), (Shape{2, kClasses}));
}

TEST(Student, SegmenterOutputAndShapes) {
  auto method = build({{"name", "student"}, {"modality", "rgb"}}, Task::Segmentation);
  EXPECT_EQ(method->outputs()[0].name, "rgb");
  EXPECT_EQ(method->outputs()[0].label_modality, 0);
  method->eval();
  NoGradGuard no_grad;
  std::vector<Tensor> logits = method->predict(make_batch(Task::Segmentation, 2, 2));
  ASSERT_EQ(logits.size(), 1u);
  EXPECT_EQ(logits[0].shape(), (Shape{2, kClasses, kSize, kSize}));
}

TEST(Student, LossIsCrossEntropyOfTheModalityLabels) {
  auto method = build({{"name", "student"}, {"modality", "rgb"}}, Task::Segmentation);
  method->eval();   // the same batch-norm statistics for both passes
  data::Batch batch = make_batch(Task::Segmentation, 2, 3);
  NoGradGuard no_grad;
  LossTerms loss = method->training_loss(batch, TrainProgress{});
  CrossEntropyOptions options;
  options.ignore_index = 255;
  float expected = cross_entropy(method->predict(batch)[0], batch.label_maps[0], options).item();
  EXPECT_FLOAT_EQ(loss.total.item(), expected);
  ASSERT_EQ(loss.parts.size(), 1u);
  EXPECT_EQ(loss.parts[0].first, "ce");
}

TEST(Student, GradientReachesEveryParameter) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    auto method = build({{"name", "student"}, {"modality", "depth"}}, task);
    expect_gradient_everywhere(*method, task, method->named_parameters());
  }
}

TEST(Student, OverfitsOneBatch) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    expect_overfits(*build({{"name", "student"}, {"modality", "rgb"}}, task), task);
  }
}

TEST(Student, CheckpointHasThePlainNetworkNames) {
  auto classifier = build({{"name", "student"}, {"modality", "rgb"}}, Task::Classification);
  TensorMap method_state = classifier->state_dict();
  EXPECT_TRUE(method_state.count("student.conv1.weight"));
  EXPECT_TRUE(method_state.count("student.fc.weight"));
  TensorMap checkpoint = classifier->checkpoint_module("rgb").state_dict();
  EXPECT_EQ(keys(checkpoint), keys(models::ResNet18(3, kClasses).state_dict()));
  EXPECT_EQ(checkpoint.at("conv1.weight").shape(), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(checkpoint.at("fc.weight").shape(), (Shape{kClasses, 512}));
  EXPECT_TRUE(checkpoint.at("fc.weight").same_as(method_state.at("student.fc.weight")));   // shared, not copied

  auto segmenter = build({{"name", "student"}, {"modality", "depth"}}, Task::Segmentation);
  TensorMap seg_checkpoint = segmenter->checkpoint_module("depth").state_dict();
  EXPECT_EQ(keys(seg_checkpoint), keys(models::Segmenter(1, kClasses).state_dict()));
  for (const char* name : {"encoder.conv1.weight", "encoder.layer4.1.bn2.running_var", "decoder.stages.0.conv.weight",
                           "decoder.classifier.weight", "decoder.classifier.bias"})
    EXPECT_TRUE(seg_checkpoint.count(name)) << name;
  EXPECT_TRUE(segmenter->state_dict().count("student.decoder.classifier.weight"));
  EXPECT_EQ(&segmenter->checkpoint_module("depth"), segmenter->deployable("depth").get());
}

TEST(Student, DeployableForwardIsThePrediction) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    auto method = build({{"name", "student"}, {"modality", "depth"}}, task);
    warm_up(*method, task);   // the deployable must see the method's running statistics
    method->eval();
    data::Batch batch = make_batch(task, 2, 4);
    NoGradGuard no_grad;
    auto deployable = method->deployable("depth");
    ASSERT_TRUE(deployable);
    expect_same_values(deployable->forward(batch.inputs[1]), method->predict(batch)[0], "deployable vs predict");
  }
}

TEST(Student, DeployableRoundTripsThroughSafetensors) {
  struct Case { Task task; const char* architecture; Shape logits; };
  for (const Case& c : {Case{Task::Classification, "resnet18_classifier", {2, kClasses}},
                        Case{Task::Segmentation, "segmenter", {2, kClasses, kSize, kSize}}}) {
    SCOPED_TRACE(c.architecture);
    auto method = build({{"name", "student"}, {"modality", "depth"}}, c.task);
    warm_up(*method, c.task);
    auto deployable = method->deployable("depth");
    models::DeploySpec spec = deployable->spec();
    EXPECT_EQ(spec.architecture, c.architecture);
    EXPECT_EQ(spec.sizes, (std::map<std::string, int64_t>{{"in_channels", 1}, {"num_classes", kClasses}}));

    testing::TempDir temp("xmkd_test_baselines");
    std::string path = temp.path("depth.safetensors");
    io::save_safetensors(path, method->checkpoint_module("depth").state_dict());
    std::shared_ptr<models::Deployable> rebuilt = models::make_deployable(spec);
    rebuilt->load_state_dict(io::load_safetensors(path), /*strict=*/true, path);
    EXPECT_EQ(rebuilt->spec().architecture, c.architecture);

    deployable->eval();
    rebuilt->eval();
    Generator gen(5);
    Tensor x = testing::random_normal({2, 1, kSize, kSize}, gen);
    NoGradGuard no_grad;
    Tensor expected = deployable->forward(x);
    EXPECT_EQ(expected.shape(), c.logits);
    expect_same_values(rebuilt->forward(x), expected, "rebuilt deployable");
  }
}

TEST(Student, MakeDeployableErrors) {
  EXPECT_TRUE(testing::contains(testing::error_message([] { models::make_deployable({"resnet99", {}}); }),
                                "resnet18_classifier, segmenter"));
  std::string missing = testing::error_message([] { models::make_deployable({"segmenter", {{"in_channels", 3}}}); });
  EXPECT_TRUE(testing::contains(missing, "segmenter")) << missing;
  EXPECT_TRUE(testing::contains(missing, "num_classes")) << missing;
}

// ---- teacher -------------------------------------------------------------------------------

TEST(Teacher, OutputNamesAndShapes) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    auto method = build({{"name", "teacher"}}, task);
    EXPECT_EQ(method->name(), "teacher");
    ASSERT_EQ(method->outputs().size(), 1u);
    EXPECT_EQ(method->outputs()[0].name, "fused");
    EXPECT_EQ(method->outputs()[0].label_modality, 0);
    EXPECT_EQ(method->outputs()[0].input_modalities, (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(&method->checkpoint_module("fused"), method.get());
    EXPECT_EQ(method->deployable("fused"), nullptr);

    TensorMap state = method->state_dict();
    EXPECT_EQ(state.at("encoders.rgb.conv1.weight").shape(), (Shape{64, 3, 7, 7}));
    EXPECT_EQ(state.at("encoders.depth.conv1.weight").shape(), (Shape{64, 1, 7, 7}));
    EXPECT_FALSE(state.count("encoders.rgb.fc.weight"));
    if (task == Task::Classification) {
      EXPECT_EQ(state.at("classifier.weight").shape(), (Shape{kClasses, 512}));
    } else {
      EXPECT_EQ(state.at("decoder.classifier.weight").shape(), (Shape{kClasses, 64, 1, 1}));
    }

    method->eval();
    NoGradGuard no_grad;
    Tensor logits = method->predict(make_batch(task, 2, 6))[0];
    Shape expected = task == Task::Classification ? Shape{2, kClasses} : Shape{2, kClasses, kSize, kSize};
    EXPECT_EQ(logits.shape(), expected);
  }
}

TEST(Teacher, ListedModalitiesChooseEncodersAndLabels) {
  auto method = build({{"name", "teacher"}, {"modalities", nlohmann::json::array({"depth", "rgb"})}}, Task::Classification);
  EXPECT_EQ(method->outputs()[0].label_modality, 1);
  EXPECT_EQ(method->outputs()[0].input_modalities, (std::vector<int64_t>{1, 0}));
  auto single = build({{"name", "teacher"}, {"modalities", nlohmann::json::array({"depth"})}}, Task::Classification);
  EXPECT_FALSE(single->state_dict().count("encoders.rgb.conv1.weight"));
  EXPECT_EQ(single->outputs()[0].input_modalities, (std::vector<int64_t>{1}));
}

TEST(Teacher, ClassifierSumsThePooledFeatures) {
  auto method = build({{"name", "teacher"}}, Task::Classification);
  auto& teacher = dynamic_cast<models::TeacherMethod&>(*method);
  warm_up(teacher, Task::Classification);
  teacher.eval();
  data::Batch batch = make_batch(Task::Classification, 2, 7);
  NoGradGuard no_grad;
  std::vector<float> rgb = teacher.encoder(0).features(batch.inputs[0]).pooled.to_vector<float>();
  std::vector<float> depth = teacher.encoder(1).features(batch.inputs[1]).pooled.to_vector<float>();
  std::vector<float> w = teacher.classifier().weight.to_vector<float>();
  std::vector<float> b = teacher.classifier().bias.to_vector<float>();
  // logits[n][c] = b[c] + Σ_k W[c][k] (rgb[n][k] + depth[n][k]), in double.
  std::vector<float> expected;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < kClasses; ++c) {
      double acc = b[c];
      for (int64_t k = 0; k < 512; ++k) acc += double(w[c * 512 + k]) * (double(rgb[n * 512 + k]) + depth[n * 512 + k]);
      expected.push_back(static_cast<float>(acc));
    }
  // 512-term float32 dot products against a double reference: errors of a few 1e-6.
  testing::expect_close(teacher.predict(batch)[0], Tensor::from_vector(expected, {2, kClasses}), 1e-5, 1e-5,
                        "fused logits");
}

TEST(Teacher, SegmenterSumsFeaturesAtEveryScale) {
  auto method = build({{"name", "teacher"}}, Task::Segmentation);
  auto& teacher = dynamic_cast<models::TeacherMethod&>(*method);
  teacher.eval();
  data::Batch batch = make_batch(Task::Segmentation, 2, 8);
  NoGradGuard no_grad;
  models::ResNetFeatures rgb = teacher.encoder(0).features(batch.inputs[0]);
  models::ResNetFeatures depth = teacher.encoder(1).features(batch.inputs[1]);
  Tensor expected = teacher.decoder().forward(add(rgb.c5, depth.c5), {add(rgb.c4, depth.c4), add(rgb.c3, depth.c3),
                                                                      add(rgb.c2, depth.c2)}, kSize, kSize);
  expect_same_values(teacher.predict(batch)[0], expected, "fused segmentation logits");
  // Not just one modality: the depth encoder's features change the result.
  Tensor rgb_only = teacher.decoder().forward(rgb.c5, {rgb.c4, rgb.c3, rgb.c2}, kSize, kSize);
  EXPECT_NE(rgb_only.to_vector<float>(), expected.to_vector<float>());
}

TEST(Teacher, GradientReachesEveryParameter) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    auto method = build({{"name", "teacher"}}, task);
    expect_gradient_everywhere(*method, task, method->named_parameters());
  }
}

TEST(Teacher, OverfitsOneBatch) {
  for (Task task : {Task::Classification, Task::Segmentation}) {
    SCOPED_TRACE(data::task_name(task));
    expect_overfits(*build({{"name", "teacher"}}, task), task);
  }
}

// ---- kd ------------------------------------------------------------------------------------

// A trained-looking teacher run (running statistics off their defaults), saved as the run's
// best checkpoint of `output`.
std::shared_ptr<Method> write_teacher_run(const std::string& dir, const nlohmann::json& method_json,
                                          const std::string& output, Task task) {
  auto teacher = build(method_json, task);
  warm_up(*teacher, task);
  write_run(dir, method_json, output, teacher->checkpoint_module(output).state_dict());
  teacher->eval();
  return teacher;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

TEST(Kd, LoadsAFrozenMultimodalTeacher) {
  testing::TempDir temp("xmkd_test_baselines");
  std::string run = run_dir(temp);
  auto saved = write_teacher_run(run, {{"name", "teacher"}}, "fused", Task::Classification);
  auto method = build({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"run", run}, {"output", "fused"}}}},
                      Task::Classification);
  auto& kd = dynamic_cast<models::KdStudentMethod&>(*method);
  EXPECT_EQ(kd.name(), "kd");
  EXPECT_EQ(kd.outputs()[0].name, "depth");
  EXPECT_EQ(kd.teacher().name(), "teacher");

  // The teacher is not part of the method: not saved, not trained.
  for (const auto& [name, t] : kd.state_dict())
    EXPECT_TRUE(starts_with(name, "student.") || starts_with(name, "distiller.")) << name;
  for (const auto& [name, t] : kd.trainable_parameters())
    EXPECT_TRUE(starts_with(name, "student.") || starts_with(name, "distiller.")) << name;
  EXPECT_EQ(keys(kd.checkpoint_module("depth").state_dict()), keys(models::ResNet18(1, kClasses).state_dict()));

  // It holds the saved weights, and stays in eval mode when the trainer switches to training.
  kd.train();
  EXPECT_FALSE(kd.teacher().is_training());
  EXPECT_TRUE(kd.is_training());
  data::Batch batch = make_batch(Task::Classification, 2, 9);
  {
    NoGradGuard no_grad;
    expect_same_values(kd.teacher().predict(batch)[0], saved->predict(batch)[0], "loaded teacher");
  }

  // Gradients reach every student parameter and never the teacher.
  NamedTensors student;
  for (const auto& [name, p] : kd.named_parameters())
    if (starts_with(name, "student.")) student.emplace_back(name, p);
  expect_gradient_everywhere(kd, Task::Classification, student);
  for (const auto& [name, p] : kd.teacher().named_parameters()) EXPECT_FALSE(p.grad().defined()) << name;
  EXPECT_FALSE(kd.teacher().is_training());
}

TEST(Kd, CrossModalTeacherIsAStudentRun) {
  testing::TempDir temp("xmkd_test_baselines");
  std::string run = run_dir(temp);
  auto saved = write_teacher_run(run, {{"name", "student"}, {"modality", "rgb"}}, "rgb", Task::Segmentation);
  auto method = build({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"run", run}, {"output", "rgb"}}}},
                      Task::Segmentation);
  auto& kd = dynamic_cast<models::KdStudentMethod&>(*method);
  data::Batch batch = make_batch(Task::Segmentation, 2, 10);
  {
    NoGradGuard no_grad;
    expect_same_values(kd.teacher().predict(batch)[0], saved->predict(batch)[0], "loaded teacher");
  }
  kd.train();
  LossTerms loss = kd.training_loss(batch, TrainProgress{});
  EXPECT_TRUE(std::isfinite(loss.total.item()));
  EXPECT_FALSE(kd.teacher().is_training());
  kd.eval();
  NoGradGuard no_grad;
  EXPECT_EQ(kd.predict(batch)[0].shape(), (Shape{2, kClasses, kSize, kSize}));
}

TEST(Kd, OverfitsOneBatch) {
  testing::TempDir temp("xmkd_test_baselines");
  std::string run = run_dir(temp);
  write_teacher_run(run, {{"name", "student"}, {"modality", "rgb"}}, "rgb", Task::Classification);
  auto method = build({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"run", run}, {"output", "rgb"}}}},
                      Task::Classification);
  expect_overfits(*method, Task::Classification, 0.9f);
}

TEST(Kd, CtkdTrainsItsTemperature) {
  testing::TempDir temp("xmkd_test_baselines");
  std::string run = run_dir(temp);
  write_teacher_run(run, {{"name", "student"}, {"modality", "rgb"}}, "rgb", Task::Classification);
  auto method = build({{"name", "kd"},
                       {"modality", "depth"},
                       {"teacher", {{"run", run}, {"output", "rgb"}}},
                       {"distill", {{"kind", "ctkd"}}}},
                      Task::Classification);
  bool has_distiller_parameter = false;
  for (const auto& [name, p] : method->trainable_parameters()) has_distiller_parameter |= starts_with(name, "distiller.");
  EXPECT_TRUE(has_distiller_parameter);
}

// ---- configuration errors ------------------------------------------------------------------

TEST(BaselineConfig, ErrorsNameTheKey) {
  auto message = [](const nlohmann::json& method) {
    return testing::error_message([&] { build(method, Task::Classification); });
  };
  std::string missing = message({{"name", "student"}});
  EXPECT_TRUE(testing::contains(missing, "method.modality")) << missing;

  std::string unknown = message({{"name", "student"}, {"modality", "thermal"}});
  EXPECT_TRUE(testing::contains(unknown, "method.modality")) << unknown;
  EXPECT_TRUE(testing::contains(unknown, "'thermal'")) << unknown;
  EXPECT_TRUE(testing::contains(unknown, "rgb, depth")) << unknown;

  std::string teacher_unknown = message({{"name", "teacher"}, {"modalities", nlohmann::json::array({"rgb", "lidar"})}});
  EXPECT_TRUE(testing::contains(teacher_unknown, "method.modalities")) << teacher_unknown;
  EXPECT_TRUE(testing::contains(teacher_unknown, "rgb, depth")) << teacher_unknown;
  EXPECT_TRUE(testing::contains(message({{"name", "teacher"}, {"modalities", nlohmann::json::array({"rgb", "rgb"})}}), "listed twice"));
  EXPECT_TRUE(testing::contains(message({{"name", "teacher"}, {"modalities", nlohmann::json::array()}}),
                                "method.modalities"));

  std::string no_run = message({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"output", "fused"}}}});
  EXPECT_TRUE(testing::contains(no_run, "method.teacher.run")) << no_run;
  std::string bad_run = message({{"name", "kd"}, {"modality", "depth"},
                                 {"teacher", {{"run", "/nonexistent/xmkd-run"}, {"output", "fused"}}}});
  EXPECT_TRUE(testing::contains(bad_run, "method.teacher.run")) << bad_run;

  testing::TempDir temp("xmkd_test_baselines");
  std::string run = run_dir(temp);
  write_run(run, {{"name", "teacher"}}, "fused", build({{"name", "teacher"}}, Task::Classification)->state_dict());
  std::string no_output = message({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"run", run}}}});
  EXPECT_TRUE(testing::contains(no_output, "method.teacher.output")) << no_output;
  std::string wrong_output = message({{"name", "kd"}, {"modality", "depth"}, {"teacher", {{"run", run}, {"output", "rgb"}}}});
  EXPECT_TRUE(testing::contains(wrong_output, "has no output 'rgb'")) << wrong_output;
  EXPECT_TRUE(testing::contains(wrong_output, "fused")) << wrong_output;
}

TEST(BaselineConfig, UnknownOutputIsAnError) {
  auto student = build({{"name", "student"}, {"modality", "depth"}}, Task::Classification);
  std::string message = testing::error_message([&] { student->checkpoint_module("rgb"); });
  EXPECT_TRUE(testing::contains(message, "no output 'rgb'")) << message;
  EXPECT_TRUE(testing::contains(message, "depth")) << message;
  auto teacher = build({{"name", "teacher"}}, Task::Classification);
  EXPECT_TRUE(testing::contains(testing::error_message([&] { teacher->checkpoint_module("rgb"); }), "fused"));
}

}  // namespace
}  // namespace xmkd
