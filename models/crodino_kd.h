// CroDiNo-KD (docs/methods.md, CroDiNo-KD, says what xmkd computes and why): one
// encoder-decoder per modality whose bottleneck is split into modality-invariant and
// modality-specific features, trained together without a teacher.
//
//   x_m ─ResNet18→ C2..C5;  C5 ─1x1 conv-BN-ReLU→ z_inv_m (N,D,h,w),  ─1x1 conv-BN-ReLU→ z_spec_m
//   decoder_m([z_inv_m ‖ z_spec_m], skips C4,C3,C2) → logits_m (N,C,H,W)      (the deployed branch)
//   aux_decoder(z_inv_m, skips of m) → aux logits (one decoder shared by every modality)
//
// Loss = w_seg Σ_m CE(logits_m, y_m) + w_aux Σ_m CE(aux_m, y_m) + w_con L_con + w_orth L_⊥ (+ w_adv L_adv)
//   L_⊥   = Σ_m mean over positions of cos(z_inv_m, z_spec_m)
//   L_con = mean over modality pairs of the prototype InfoNCE (losses/contrastive.h)
//   L_adv = Σ_m CE(Linear(GRL_λ(avgpool(z_inv_m))), m)     (off by default)
// y_m is batch.label_maps[m]: with decoupled augmentation each modality has its own label map.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "models/method.h"
#include "models/segmenter.h"

namespace xmkd::models {

// Everything one branch computes for an input, for the method's losses.
struct CrodinoBranchOutputs {
  Tensor z_inv;               // (N, D, H/32, W/32), post-ReLU
  Tensor z_spec;              // (N, D, H/32, W/32), post-ReLU
  std::vector<Tensor> skips;  // {C4, C3, C2}
  Tensor logits;              // (N, num_classes, H, W)
};

// The deployable network of one modality: encoder, the two heads and its decoder.
// State dict: encoder.*, inv_head.*, spec_head.*, decoder.*
class CrodinoBranch : public Deployable {
 public:
  CrodinoBranch(int64_t in_channels, int64_t num_classes, int64_t feature_dim = 128);
  Tensor forward(const Tensor& x) override;   // (N, C_in, H, W) -> logits (N, num_classes, H, W)
  CrodinoBranchOutputs forward_all(const Tensor& x);
  DeploySpec spec() const override;
  GraphValue describe(GraphBuilder& g, GraphValue x) override;   // forward() as a graph

  int64_t feature_dim() const { return feature_dim_; }

 private:
  int64_t in_channels_, num_classes_, feature_dim_;
  std::shared_ptr<ResNet18> encoder_;
  std::shared_ptr<ConvBnRelu> inv_head_, spec_head_;
  std::shared_ptr<SegDecoder> decoder_;
};

// Architecture "crodino_branch": sizes in_channels, num_classes (required), feature_dim (default 128).
std::shared_ptr<Deployable> make_crodino_branch(const DeploySpec& spec);

// The "method" section of a crodino_kd configuration.
struct CrodinoOptions {
  std::vector<int64_t> modalities;   // dataset indices of the trained modalities ("modalities", default all)
  int64_t feature_dim = 128;
  double temperature = 0.1;          // of the InfoNCE
  double grl_lambda = 1.0;           // of the adversarial term's gradient reversal
  struct Weights {
    double seg = 1.0, aux = 0.5, con = 0.1, orth = 1.0, adv = 0.1;
  } weights;
  struct Switches {
    bool seg = true, aux = true, con = true, orth = true, adv = false;
  } loss;
  int64_t ignore_index = kIgnoreLabel;
};
// Errors name the key (through ConfigNode::fail) and what was expected.
CrodinoOptions parse_crodino_options(const io::ConfigNode& config, const MethodContext& context);

class CrodinoKD : public Method {
 public:
  CrodinoKD(CrodinoOptions options, const MethodContext& context);

  std::string name() const override { return "crodino_kd"; }
  std::vector<MethodOutput> outputs() const override;
  // parts: "seg", "aux", "con", "orth", "adv" (each enabled term, unweighted);
  // total = Σ weight · part.
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;
  std::shared_ptr<Deployable> deployable(const std::string& output) override;

  const CrodinoOptions& options() const { return options_; }
  // The i-th trained modality (in the order of options().modalities) and its branch.
  size_t num_branches() const { return branches_.size(); }
  CrodinoBranch& branch(size_t i) { return *branches_.at(i); }
  SegDecoder& aux_decoder() { return *aux_decoder_; }
  nn::Linear* discriminator() { return discriminator_.get(); }   // null unless loss.adv

 private:
  size_t branch_of(const std::string& output) const;   // error lists the outputs

  CrodinoOptions options_;
  MethodContext context_;
  std::vector<std::shared_ptr<CrodinoBranch>> branches_;
  std::shared_ptr<SegDecoder> aux_decoder_;
  std::shared_ptr<nn::Linear> discriminator_;
};

}  // namespace xmkd::models
