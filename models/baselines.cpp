#include "models/baselines.h"

#include <utility>

#include "engine/autograd.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::models {

namespace {

int64_t spec_size(const DeploySpec& spec, const std::string& key) {
  auto it = spec.sizes.find(key);
  XMKD_CHECK(it != spec.sizes.end(), "deployable '", spec.architecture, "': its spec has no size '", key, "'");
  return it->second;
}

std::shared_ptr<Deployable> make_student_network(int64_t in_channels, const MethodContext& context) {
  if (context.task == data::Task::Segmentation)
    return std::make_shared<SegmenterDeployable>(in_channels, context.num_classes);
  return std::make_shared<ResNet18ClassifierDeployable>(in_channels, context.num_classes);
}

}  // namespace

void NetworkDeployable::adopt(std::shared_ptr<Module> network) {
  network_ = std::move(network);
  for (const auto& [name, child] : network_->children()) register_module(name, child);
  // The network's own (non-child) tensors would be invisible here; none of ours has any.
  XMKD_CHECK(named_parameters().size() == network_->named_parameters().size() &&
                 named_buffers().size() == network_->named_buffers().size(),
             "NetworkDeployable: the network holds tensors outside its children");
}

ResNet18ClassifierDeployable::ResNet18ClassifierDeployable(int64_t in_channels, int64_t num_classes)
    : in_channels_(in_channels), num_classes_(num_classes) {
  XMKD_CHECK(num_classes > 0, "resnet18_classifier: num_classes must be positive, got ", num_classes);
  resnet_ = std::make_shared<ResNet18>(in_channels, num_classes);
  adopt(resnet_);
}

DeploySpec ResNet18ClassifierDeployable::spec() const {
  return {"resnet18_classifier", {{"in_channels", in_channels_}, {"num_classes", num_classes_}}};
}

SegmenterDeployable::SegmenterDeployable(int64_t in_channels, int64_t num_classes)
    : in_channels_(in_channels), num_classes_(num_classes) {
  segmenter_ = std::make_shared<Segmenter>(in_channels, num_classes);
  adopt(segmenter_);
}

DeploySpec SegmenterDeployable::spec() const {
  return {"segmenter", {{"in_channels", in_channels_}, {"num_classes", num_classes_}}};
}

std::shared_ptr<Deployable> make_resnet18_classifier(const DeploySpec& spec) {
  return std::make_shared<ResNet18ClassifierDeployable>(spec_size(spec, "in_channels"), spec_size(spec, "num_classes"));
}

std::shared_ptr<Deployable> make_segmenter(const DeploySpec& spec) {
  return std::make_shared<SegmenterDeployable>(spec_size(spec, "in_channels"), spec_size(spec, "num_classes"));
}

StudentMethod::StudentMethod(int64_t modality, const MethodContext& context)
    : modality_(modality), modality_name_(context.modalities.at(modality).name), task_(context.task) {
  student_ = register_module("student", make_student_network(context.modalities[modality].channels, context));
}

std::vector<MethodOutput> StudentMethod::outputs() const { return {{modality_name_, modality_, {modality_}}}; }

Tensor StudentMethod::student_logits(const data::Batch& batch) {
  XMKD_CHECK(modality_ < static_cast<int64_t>(batch.inputs.size()), name(), ": the batch has ", batch.inputs.size(),
             " modalities, the student reads modality ", modality_, " (", modality_name_, ")");
  return student_->forward(batch.inputs[modality_]);
}

LossTerms StudentMethod::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  (void)progress;
  Tensor ce = task_loss(student_logits(batch), batch, modality_, task_, name());
  return {ce, {{"ce", ce.detach()}}};
}

std::vector<Tensor> StudentMethod::predict(const data::Batch& batch) { return {student_logits(batch)}; }

void StudentMethod::check_output(const std::string& output) const {
  XMKD_CHECK(output == modality_name_, name(), ": no output '", output, "' (it has: ", modality_name_, ")");
}

Module& StudentMethod::checkpoint_module(const std::string& output) {
  check_output(output);
  return *student_;
}

std::shared_ptr<Deployable> StudentMethod::deployable(const std::string& output) {
  check_output(output);
  return student_;
}

KdStudentMethod::KdStudentMethod(int64_t modality, const MethodContext& context, std::shared_ptr<Method> teacher,
                                 int64_t teacher_output, losses::DistillOptions options)
    : StudentMethod(modality, context), teacher_(std::move(teacher)), teacher_output_(teacher_output) {
  distiller_ = register_module("distiller", std::make_shared<losses::Distiller>(std::move(options)));
  teacher_->eval();
}

LossTerms KdStudentMethod::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  Tensor teacher_logits;
  {
    NoGradGuard no_grad;
    teacher_logits = teacher_->predict(batch).at(static_cast<size_t>(teacher_output_));
  }
  Tensor student = student_logits(batch);
  XMKD_CHECK(student.shape() == teacher_logits.shape(), "kd: student logits ", shape_str(student.shape()),
             " and teacher logits ", shape_str(teacher_logits.shape()), " (output '",
             teacher_->outputs()[teacher_output_].name, "') differ in shape");
  return distiller_->loss(student, teacher_logits, task_labels(batch, modality_, task_, name()), progress);
}

std::shared_ptr<Method> make_student(const io::ConfigNode& config, const MethodContext& context) {
  std::string modality = config.require_string("modality");
  return std::make_shared<StudentMethod>(modality_from_config(config, "modality", modality, context), context);
}

std::shared_ptr<Method> make_kd_student(const io::ConfigNode& config, const MethodContext& context) {
  int64_t modality = modality_from_config(config, "modality", config.require_string("modality"), context);
  io::ConfigNode teacher_config = config.child("teacher");
  std::string run = teacher_config.require_existing_path("run");
  std::string output = teacher_config.require_string("output");
  losses::DistillOptions options = losses::parse_distill_options(config.child("distill"));

  std::shared_ptr<Method> teacher = context.teacher(run, output, "kd");
  std::vector<MethodOutput> outputs = teacher->outputs();
  int64_t index = 0;
  while (outputs[static_cast<size_t>(index)].name != output) ++index;   // the loader checked it exists
  return std::make_shared<KdStudentMethod>(modality, context, std::move(teacher), index, std::move(options));
}

}  // namespace xmkd::models
