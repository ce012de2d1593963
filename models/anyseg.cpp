#include "models/anyseg.h"

#include <algorithm>
#include <utility>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::models {
namespace {

// As in ResNet-18: convs without bias, kaiming_normal(fan_out, relu) (torchvision's init).
std::shared_ptr<nn::Conv2d> trunk_conv(int64_t in, int64_t out, int kernel, int stride, int padding) {
  auto conv = std::make_shared<nn::Conv2d>(in, out, kernel, stride, padding, 1, /*bias=*/false);
  nn::init::kaiming_normal_fan_out_relu_(conv->weight);
  return conv;
}

std::shared_ptr<nn::Sequential> make_layer(int64_t in, int64_t out, int stride) {
  auto layer = std::make_shared<nn::Sequential>();
  layer->add(std::make_shared<BasicBlock>(in, out, stride));
  layer->add(std::make_shared<BasicBlock>(out, out, 1));
  return layer;
}

// A context AnySeg can train on; errors name the method.
void check_context(const MethodContext& context, const char* method_name) {
  XMKD_CHECK(context.task == data::Task::Segmentation, method_name, ": needs a segmentation dataset, got ",
             data::task_name(context.task));
  XMKD_CHECK(context.num_classes > 0, method_name, ": the dataset has ", context.num_classes, " classes");
}

}  // namespace

ModalityStem::ModalityStem(int64_t in_channels) : in_channels_(in_channels) {
  XMKD_CHECK(in_channels > 0, "ModalityStem: in_channels must be positive, got ", in_channels);
  conv1_ = register_module("conv1", trunk_conv(in_channels, 64, 7, 2, 3));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
}

Tensor ModalityStem::forward(const Tensor& x) {
  check_ndim("ModalityStem", "input", x, 4);
  XMKD_CHECK(x.dim(1) == in_channels_, "ModalityStem: input ", shape_str(x.shape()), " has ", x.dim(1),
             " channels, the stem expects ", in_channels_);
  return max_pool2d(relu(bn1_->forward(conv1_->forward(x))), 3, 2, 1);
}

GraphValue ModalityStem::describe(GraphBuilder& g, GraphValue x) const {
  return g.max_pool2d(g.relu(g.batch_norm(g.conv2d(x, *conv1_), *bn1_)), 3, 2, 1);
}

SharedTrunk::SharedTrunk() {
  layer1_ = register_module("layer1", make_layer(64, 64, 1));
  layer2_ = register_module("layer2", make_layer(64, 128, 2));
  layer3_ = register_module("layer3", make_layer(128, 256, 2));
  layer4_ = register_module("layer4", make_layer(256, 512, 2));
}

std::vector<Tensor> SharedTrunk::features(const Tensor& stem_output) {
  Tensor c2 = layer1_->forward(stem_output);
  Tensor c3 = layer2_->forward(c2);
  Tensor c4 = layer3_->forward(c3);
  Tensor c5 = layer4_->forward(c4);
  return {c2, c3, c4, c5};
}

std::vector<GraphValue> SharedTrunk::describe_features(GraphBuilder& g, GraphValue stem_output) const {
  GraphValue c2 = describe_resnet_layer(g, *layer1_, stem_output);
  GraphValue c3 = describe_resnet_layer(g, *layer2_, c2);
  GraphValue c4 = describe_resnet_layer(g, *layer3_, c3);
  GraphValue c5 = describe_resnet_layer(g, *layer4_, c4);
  return {c2, c3, c4, c5};
}

AnySegNetwork::AnySegNetwork(std::vector<int64_t> modalities, const std::vector<int64_t>& channels,
                             int64_t num_classes)
    : modalities_(std::move(modalities)), num_classes_(num_classes) {
  XMKD_CHECK(!modalities_.empty() && modalities_.size() == channels.size(), "AnySegNetwork: ", modalities_.size(),
             " modalities and ", channels.size(), " channel counts (need the same number, at least one)");
  auto stems = std::make_shared<nn::Sequential>();   // a container only, for the names stems.0, stems.1, ...
  for (int64_t c : channels) stems_.push_back(stems->add(std::make_shared<ModalityStem>(c)));
  register_module("stems", stems);
  trunk_ = register_module("trunk", std::make_shared<SharedTrunk>());
  decoder_ = register_module("decoder", std::make_shared<SegDecoder>(ResNet18::kFeatureDim, num_classes));
}

size_t AnySegNetwork::position(int64_t modality) const {
  auto it = std::find(modalities_.begin(), modalities_.end(), modality);
  if (it == modalities_.end()) {
    fail("AnySegNetwork: modality ", modality, " is not one of the network's modalities (", join_list(modalities_), ")");
  }
  return static_cast<size_t>(it - modalities_.begin());
}

std::vector<Tensor> AnySegNetwork::encode(const Tensor& x, int64_t modality) {
  return trunk_->features(stems_[position(modality)]->forward(x));
}

std::vector<Tensor> AnySegNetwork::fuse(const losses::StageFeatures& features) {
  std::vector<Tensor> fused;
  for (const std::vector<Tensor>& stage : features) {
    XMKD_CHECK(!stage.empty(), "AnySegNetwork::fuse: a stage has no modality");
    Tensor total = stage[0];
    for (size_t j = 1; j < stage.size(); ++j) total = add(total, stage[j]);
    fused.push_back(stage.size() == 1 ? total : scale(total, 1.0f / static_cast<float>(stage.size())));
  }
  return fused;
}

Tensor AnySegNetwork::decode(const std::vector<Tensor>& fused, int64_t out_h, int64_t out_w) {
  XMKD_CHECK(fused.size() == kAnySegStages, "AnySegNetwork::decode: needs 4 stages C2..C5, got ", fused.size());
  return decoder_->forward(fused[3], {fused[2], fused[1], fused[0]}, out_h, out_w);
}

AnySegForward AnySegNetwork::forward(const std::vector<Tensor>& inputs, const std::vector<int64_t>& subset) {
  XMKD_CHECK(!subset.empty(), "AnySegNetwork: the modality subset is empty");
  AnySegForward out;
  out.subset = subset;
  out.features.resize(kAnySegStages);
  int64_t height = 0, width = 0;
  for (size_t j = 0; j < subset.size(); ++j) {
    int64_t m = subset[j];
    position(m);   // checks m is one of ours
    XMKD_CHECK(m >= 0 && m < static_cast<int64_t>(inputs.size()), "AnySegNetwork: modality ", m,
               " but the batch has ", inputs.size(), " inputs");
    XMKD_CHECK(std::count(subset.begin(), subset.end(), m) == 1, "AnySegNetwork: modality ", m,
               " appears twice in the subset");
    const Tensor& x = inputs[m];
    check_ndim("AnySegNetwork", "input", x, 4);
    if (j == 0) {
      height = x.dim(2);
      width = x.dim(3);
    }
    XMKD_CHECK(x.dim(2) == height && x.dim(3) == width, "AnySegNetwork: modality ", m, " input ",
               shape_str(x.shape()), " differs in size from modality ", subset[0], " (", height, "x", width, ")");
    std::vector<Tensor> f = encode(x, m);
    for (size_t s = 0; s < kAnySegStages; ++s) out.features[s].push_back(f[s]);
  }
  out.fused = fuse(out.features);
  out.logits = decode(out.fused, height, width);
  return out;
}

AnySegBranch::AnySegBranch(std::shared_ptr<ModalityStem> stem, std::shared_ptr<SharedTrunk> trunk,
                           std::shared_ptr<SegDecoder> decoder, int64_t num_classes)
    : stem_(std::move(stem)), trunk_(std::move(trunk)), decoder_(std::move(decoder)), num_classes_(num_classes) {
  register_module("stem", stem_);
  register_module("trunk", trunk_);
  register_module("decoder", decoder_);
}

Tensor AnySegBranch::forward(const Tensor& x) {
  std::vector<Tensor> f = trunk_->features(stem_->forward(x));
  return decoder_->forward(f[3], {f[2], f[1], f[0]}, x.dim(2), x.dim(3));
}

GraphValue AnySegBranch::describe(GraphBuilder& g, GraphValue x) {
  std::vector<GraphValue> f = trunk_->describe_features(g, stem_->describe(g, x));
  return decoder_->describe(g, f[3], {f[2], f[1], f[0]});
}

DeploySpec AnySegBranch::spec() const {
  return {"anyseg_branch", {{"in_channels", stem_->in_channels()}, {"num_classes", num_classes_}}};
}

std::shared_ptr<Deployable> make_anyseg_branch(const DeploySpec& spec) {
  for (const char* key : {"in_channels", "num_classes"})
    XMKD_CHECK(spec.sizes.count(key), "anyseg_branch: the deploy spec lacks the size '", key, "'");
  int64_t num_classes = spec.sizes.at("num_classes");
  return std::make_shared<AnySegBranch>(std::make_shared<ModalityStem>(spec.sizes.at("in_channels")),
                                        std::make_shared<SharedTrunk>(),
                                        std::make_shared<SegDecoder>(ResNet18::kFeatureDim, num_classes), num_classes);
}

std::vector<int64_t> parse_anyseg_modalities(const io::ConfigNode& config, const MethodContext& context) {
  std::vector<int64_t> indices = modalities_from_config(config, context, 2, "AnySeg");
  std::sort(indices.begin(), indices.end());
  return indices;
}

std::string anyseg_subset_name(const MethodContext& context, const std::vector<int64_t>& subset) {
  std::string name;
  for (int64_t m : subset) name += (name.empty() ? "" : "+") + context.modalities.at(m).name;
  return name;
}

std::vector<std::vector<int64_t>> nonempty_subsets(int64_t count) {
  XMKD_CHECK(count >= 1 && count < 31, "nonempty_subsets: count must be in [1, 30], got ", count);
  std::vector<std::vector<int64_t>> subsets;
  for (uint32_t mask = 1; mask < (1u << count); ++mask) {
    std::vector<int64_t> subset;
    for (int64_t i = 0; i < count; ++i)
      if (mask & (1u << i)) subset.push_back(i);
    subsets.push_back(subset);
  }
  std::stable_sort(subsets.begin(), subsets.end(), [](const auto& a, const auto& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return subsets;
}

std::vector<int64_t> draw_modality_subset(int64_t count, Generator& gen) {
  XMKD_CHECK(count >= 1, "draw_modality_subset: count must be >= 1, got ", count);
  int64_t k = 1 + gen.randint(count);
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  for (int64_t i = 0; i < k; ++i) std::swap(order[i], order[i + gen.randint(count - i)]);
  std::vector<int64_t> kept(order.begin(), order.begin() + k);
  std::sort(kept.begin(), kept.end());
  return kept;
}

AnySegMethod::AnySegMethod(const MethodContext& context, std::vector<int64_t> modalities) : context_(context) {
  std::vector<int64_t> channels;
  for (int64_t m : modalities) channels.push_back(context.modalities.at(m).channels);
  for (const std::vector<int64_t>& positions : nonempty_subsets(static_cast<int64_t>(modalities.size()))) {
    std::vector<int64_t> subset;
    for (int64_t p : positions) subset.push_back(modalities[p]);
    outputs_.push_back({subset_name(subset), /*label_modality=*/0, subset});
  }
  network_ = register_module("network", std::make_shared<AnySegNetwork>(std::move(modalities), channels,
                                                                         context.num_classes));
  to(context.device);
}

std::string AnySegMethod::subset_name(const std::vector<int64_t>& subset) const {
  return anyseg_subset_name(context_, subset);
}

std::vector<MethodOutput> AnySegMethod::outputs() const { return outputs_; }

const MethodOutput& AnySegMethod::find_output(const std::string& output) const {
  for (const MethodOutput& o : outputs_) {
    if (o.name == output) return o;
  }
  fail(name(), ": no output '", output, "' (it has: ", output_names(outputs_), ")");
}

const Tensor& AnySegMethod::label_map(const data::Batch& batch) const {
  XMKD_CHECK(!batch.label_maps.empty() && batch.label_maps[0].defined(), name(),
             ": the batch has no label maps (AnySeg trains a segmentation)");
  return batch.label_maps[0];
}

std::vector<Tensor> AnySegMethod::predict(const data::Batch& batch) {
  // A modality's encoding does not depend on the others present (fusion comes after the trunk),
  // so each modality is encoded once and every subset only averages and decodes.
  const std::vector<int64_t>& mods = modalities();
  std::vector<std::vector<Tensor>> encoded(mods.size());
  for (size_t p = 0; p < mods.size(); ++p) {
    XMKD_CHECK(mods[p] < static_cast<int64_t>(batch.inputs.size()), name(), ": modality ", mods[p],
               " but the batch has ", batch.inputs.size(), " inputs");
    encoded[p] = network_->encode(batch.inputs[mods[p]], mods[p]);
  }
  const Tensor& first = batch.inputs[mods[0]];
  std::vector<Tensor> logits;
  for (const MethodOutput& o : outputs_) {
    losses::StageFeatures features(kAnySegStages);
    for (int64_t m : o.input_modalities) {
      size_t p = static_cast<size_t>(std::find(mods.begin(), mods.end(), m) - mods.begin());
      for (size_t s = 0; s < kAnySegStages; ++s) features[s].push_back(encoded[p][s]);
    }
    logits.push_back(network_->decode(AnySegNetwork::fuse(features), first.dim(2), first.dim(3)));
  }
  return logits;
}

Module& AnySegMethod::checkpoint_module(const std::string& output) {
  find_output(output);
  return *this;
}

std::shared_ptr<Deployable> AnySegMethod::deployable(const std::string& output) {
  const MethodOutput& o = find_output(output);
  if (o.input_modalities.size() != 1) return nullptr;   // a multimodal subset: the method is its checkpoint
  int64_t m = o.input_modalities[0];
  return std::make_shared<AnySegBranch>(network_->stem(m), network_->trunk(), network_->decoder(),
                                        network_->num_classes());
}

AnySegTeacher::AnySegTeacher(const MethodContext& context, std::vector<int64_t> modalities)
    : AnySegMethod(context, std::move(modalities)) {}

LossTerms AnySegTeacher::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  (void)progress;
  const Tensor& labels = label_map(batch);
  AnySegForward f = network_->forward(batch.inputs, modalities());
  CrossEntropyOptions options;
  options.ignore_index = kIgnoreLabel;
  Tensor ce = cross_entropy(f.logits, labels, options);
  return {ce, {{"ce", ce.detach()}}};
}

AnySegStudent::AnySegStudent(const MethodContext& context, std::vector<int64_t> modalities,
                             std::shared_ptr<AnySegMethod> teacher, const losses::AnySegLossWeights& weights)
    : AnySegMethod(context, std::move(modalities)), teacher_(std::move(teacher)), weights_(weights) {
  XMKD_CHECK(teacher_ && teacher_->modalities() == this->modalities(),
             "anyseg_student: the teacher must be an AnySeg method over the student's modalities");
}

LossTerms AnySegStudent::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  XMKD_CHECK(progress.gen, "anyseg_student: training needs TrainProgress::gen (the modality dropout draws from it)");
  const Tensor& labels = label_map(batch);
  const std::vector<int64_t>& mods = modalities();
  std::vector<int64_t> positions = draw_modality_subset(static_cast<int64_t>(mods.size()), *progress.gen);
  last_kept_.clear();
  for (int64_t p : positions) last_kept_.push_back(mods[p]);

  AnySegForward student = network_->forward(batch.inputs, last_kept_);
  Tensor teacher_logits;
  losses::StageFeatures teacher_features(kAnySegStages);
  {
    // The teacher sees every modality (L_mad's target); a modality's teacher features do not
    // depend on the others present, so the kept ones are a selection from this one pass.
    NoGradGuard no_grad;
    if (teacher_->is_training()) teacher_->eval();
    AnySegForward teacher = teacher_->network().forward(batch.inputs, mods);
    teacher_logits = teacher.logits;
    for (size_t s = 0; s < kAnySegStages; ++s)
      for (int64_t p : positions) teacher_features[s].push_back(teacher.features[s][static_cast<size_t>(p)]);
  }
  return losses::anyseg_student_loss(student.logits, labels, teacher_logits, student.features,
                                     teacher_features, weights_);
}

std::shared_ptr<Method> make_anyseg_teacher(const io::ConfigNode& config, const MethodContext& context) {
  check_context(context, "anyseg_teacher");
  return std::make_shared<AnySegTeacher>(context, parse_anyseg_modalities(config, context));
}

// Every key is checked, and the teacher loaded, before the student's network is built.
std::shared_ptr<Method> make_anyseg_student(const io::ConfigNode& config, const MethodContext& context) {
  check_context(context, "anyseg_student");
  std::vector<int64_t> modalities = parse_anyseg_modalities(config, context);
  losses::AnySegLossWeights weights = losses::parse_anyseg_loss_weights(config.child("weights"));
  io::ConfigNode teacher_config = config.child("teacher");
  std::string run = teacher_config.require_existing_path("run");
  std::vector<std::string> outputs;
  for (const std::vector<int64_t>& positions : nonempty_subsets(static_cast<int64_t>(modalities.size()))) {
    std::vector<int64_t> subset;
    for (int64_t p : positions) subset.push_back(modalities[p]);
    outputs.push_back(anyseg_subset_name(context, subset));
  }
  std::string output = teacher_config.get_string("output", outputs.back());
  if (std::find(outputs.begin(), outputs.end(), output) == outputs.end())
    teacher_config.fail("output", "expected one of the modality subsets " + join_list(outputs) + ", got '" + output + "'");

  std::shared_ptr<Method> loaded;
  try {
    loaded = context.teacher(run, output, "anyseg_student");
  } catch (const Error& e) {
    teacher_config.fail("run", e.what());
  }
  auto teacher = std::dynamic_pointer_cast<AnySegMethod>(loaded);
  if (!teacher) teacher_config.fail("run", "the run trained '" + loaded->name() + "', not an AnySeg method");
  if (teacher->modalities() != modalities)
    teacher_config.fail("run", "the teacher was trained on " + anyseg_subset_name(context, teacher->modalities()) +
                                   ", the student uses " + anyseg_subset_name(context, modalities));
  return std::make_shared<AnySegStudent>(context, std::move(modalities), std::move(teacher), weights);
}

}  // namespace xmkd::models
