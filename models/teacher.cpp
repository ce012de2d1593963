// The multimodal teacher with sum fusion (docs/methods.md, Baselines). The cross-modal teacher is a plain
// `student` run on the richer modality (models/baselines.cpp).
#include <utility>

#include "engine/ops.h"
#include "models/baselines.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::models {

namespace {

// A container whose children are named by the caller ("encoders.rgb", "encoders.depth").
class NamedModules : public Module {
 public:
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> module) {
    return register_module(name, std::move(module));
  }
};

}  // namespace

TeacherMethod::TeacherMethod(std::vector<int64_t> modalities, const MethodContext& context)
    : modalities_(std::move(modalities)), task_(context.task) {
  XMKD_CHECK(!modalities_.empty(), "teacher: needs at least one modality");
  auto encoders = register_module("encoders", std::make_shared<NamedModules>());
  for (int64_t m : modalities_) {
    const data::ModalitySpec& spec = context.modalities.at(static_cast<size_t>(m));
    encoders_.push_back(encoders->add(spec.name, std::make_shared<ResNet18>(spec.channels)));
  }
  if (task_ == data::Task::Segmentation) {
    decoder_ = register_module("decoder", std::make_shared<SegDecoder>(ResNet18::kFeatureDim, context.num_classes));
  } else {
    XMKD_CHECK(context.num_classes > 0, "teacher: num_classes must be positive, got ", context.num_classes);
    classifier_ = register_module("classifier", std::make_shared<nn::Linear>(ResNet18::kFeatureDim, context.num_classes));
  }
}

std::vector<MethodOutput> TeacherMethod::outputs() const { return {{"fused", modalities_.front(), modalities_}}; }

Tensor TeacherMethod::fused_logits(const data::Batch& batch) {
  // fused_s = Σ_m features_s(x_m) at every scale s (element-wise; the modalities' images must
  // share one size so that their feature maps do).
  ResNetFeatures fused;
  for (size_t i = 0; i < modalities_.size(); ++i) {
    int64_t m = modalities_[i];
    XMKD_CHECK(m < static_cast<int64_t>(batch.inputs.size()), "teacher: the batch has ", batch.inputs.size(),
               " modalities, the teacher reads modality ", m);
    const Tensor& x = batch.inputs[static_cast<size_t>(m)];
    XMKD_CHECK(x.dim(0) == batch.inputs[static_cast<size_t>(modalities_[0])].dim(0), "teacher: modality ", m,
               " has ", x.dim(0), " samples, modality ", modalities_[0], " has ",
               batch.inputs[static_cast<size_t>(modalities_[0])].dim(0));
    if (task_ == data::Task::Classification) {
      Tensor pooled = encoders_[i]->features(x).pooled;
      fused.pooled = i == 0 ? pooled : add(fused.pooled, pooled);
      continue;
    }
    ResNetFeatures f = encoders_[i]->features(x);
    if (i == 0) {
      fused = f;
    } else {
      fused.c2 = add(fused.c2, f.c2);
      fused.c3 = add(fused.c3, f.c3);
      fused.c4 = add(fused.c4, f.c4);
      fused.c5 = add(fused.c5, f.c5);
    }
  }
  if (task_ == data::Task::Classification) return classifier_->forward(fused.pooled);
  const Tensor& first = batch.inputs[static_cast<size_t>(modalities_[0])];
  return decoder_->forward(fused.c5, {fused.c4, fused.c3, fused.c2}, first.dim(2), first.dim(3));
}

LossTerms TeacherMethod::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  (void)progress;
  // Scored against the first listed modality's labels: with paired modalities they are the
  // same labels for every modality.
  Tensor ce = task_loss(fused_logits(batch), batch, modalities_.front(), task_, name());
  return {ce, {{"ce", ce.detach()}}};
}

std::vector<Tensor> TeacherMethod::predict(const data::Batch& batch) { return {fused_logits(batch)}; }

Module& TeacherMethod::checkpoint_module(const std::string& output) {
  XMKD_CHECK(output == "fused", "teacher: no output '", output, "' (it has: fused)");
  return *this;
}

std::shared_ptr<Method> make_teacher(const io::ConfigNode& config, const MethodContext& context) {
  return std::make_shared<TeacherMethod>(modalities_from_config(config, context, 1, "the teacher"), context);
}

}  // namespace xmkd::models
