// The teacher/student baselines (docs/methods.md, Baselines):
//   student   one modality: ResNet-18 + Linear, or the encoder-decoder segmenter; CE.
//   teacher   one encoder per modality, fused by element-wise sum (pooled features before one
//             Linear; for segmentation C2..C5 at every scale before one decoder); CE.
//             The cross-modal teacher is no separate method: it is a `student` trained on the
//             richer modality, and a `kd` run names that student run as its teacher.
//   kd        a student distilled from a frozen teacher run (losses::Distiller: KDv1/v2, DKD,
//             CTKD, MLKD, ±LSKD).
// The builders make_student / make_teacher / make_kd_student are declared in models/methods.h.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "losses/distill.h"
#include "models/method.h"
#include "models/resnet18.h"
#include "models/segmenter.h"

namespace xmkd::models {

// A deployable that is one plain network: it adopts the network's children as its own, so its
// state_dict has the network's names ("conv1.weight", "encoder.layer1.0.conv1.weight", ...)
// and a checkpoint of it loads into the bare network and back.
class NetworkDeployable : public Deployable {
 public:
  Tensor forward(const Tensor& x) override { return network_->forward(x); }

 protected:
  void adopt(std::shared_ptr<Module> network);

 private:
  std::shared_ptr<Module> network_;
};

// "resnet18_classifier" {in_channels, num_classes}: (N,C_in,H,W) -> (N,num_classes).
class ResNet18ClassifierDeployable : public NetworkDeployable {
 public:
  ResNet18ClassifierDeployable(int64_t in_channels, int64_t num_classes);
  DeploySpec spec() const override;
  GraphValue describe(GraphBuilder& g, GraphValue x) override { return resnet_->describe(g, x); }

 private:
  int64_t in_channels_, num_classes_;
  std::shared_ptr<ResNet18> resnet_;   // the adopted network, typed
};

// "segmenter" {in_channels, num_classes}: (N,C_in,H,W) -> (N,num_classes,H,W).
class SegmenterDeployable : public NetworkDeployable {
 public:
  SegmenterDeployable(int64_t in_channels, int64_t num_classes);
  DeploySpec spec() const override;
  GraphValue describe(GraphBuilder& g, GraphValue x) override { return segmenter_->describe(g, x); }

 private:
  int64_t in_channels_, num_classes_;
  std::shared_ptr<Segmenter> segmenter_;   // the adopted network, typed
};

// The entries of models/methods.cpp's deployable table; errors name the missing size.
std::shared_ptr<Deployable> make_resnet18_classifier(const DeploySpec& spec);
std::shared_ptr<Deployable> make_segmenter(const DeploySpec& spec);

// One modality's network trained with CE. Its one output is named after the modality; the
// network (the deployable) is the registered child "student".
class StudentMethod : public Method {
 public:
  StudentMethod(int64_t modality, const MethodContext& context);
  std::string name() const override { return "student"; }
  std::vector<MethodOutput> outputs() const override;
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;
  std::shared_ptr<Deployable> deployable(const std::string& output) override;

 protected:
  Tensor student_logits(const data::Batch& batch);   // (N,C) or (N,C,H,W)
  void check_output(const std::string& output) const;

  int64_t modality_;
  std::string modality_name_;
  data::Task task_;
  std::shared_ptr<Deployable> student_;
};

// One ResNet-18 encoder per modality (children "encoders.<modality>"), features summed, then
// "classifier" (Linear 512 -> C) or "decoder" (SegDecoder on the fused C5 with fused skips).
// One output, "fused"; its checkpoint is the whole method.
class TeacherMethod : public Method {
 public:
  TeacherMethod(std::vector<int64_t> modalities, const MethodContext& context);
  std::string name() const override { return "teacher"; }
  std::vector<MethodOutput> outputs() const override;
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;

  // Logits of the fused prediction: (N,C), or (N,C,H,W) at the input size.
  Tensor fused_logits(const data::Batch& batch);
  ResNet18& encoder(size_t i) { return *encoders_.at(i); }   // i-th listed modality
  nn::Linear& classifier() { return *classifier_; }           // classification only
  SegDecoder& decoder() { return *decoder_; }                 // segmentation only

 private:
  std::vector<int64_t> modalities_;   // dataset indices, in the configured order
  data::Task task_;
  std::vector<std::shared_ptr<ResNet18>> encoders_;
  std::shared_ptr<nn::Linear> classifier_;
  std::shared_ptr<SegDecoder> decoder_;
};

// A student distilled from a frozen teacher. The teacher is deliberately NOT a child: it is
// neither saved nor trained, and Module::train() (recursive over children) never switches it
// out of eval mode. The Distiller is the child "distiller" (CTKD's temperature is trained).
class KdStudentMethod : public StudentMethod {
 public:
  KdStudentMethod(int64_t modality, const MethodContext& context, std::shared_ptr<Method> teacher,
                  int64_t teacher_output, losses::DistillOptions options);
  std::string name() const override { return "kd"; }
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;

  Method& teacher() { return *teacher_; }
  losses::Distiller& distiller() { return *distiller_; }

 private:
  std::shared_ptr<Method> teacher_;
  int64_t teacher_output_;   // index into teacher_->outputs()
  std::shared_ptr<losses::Distiller> distiller_;
};

}  // namespace xmkd::models
