// One modality's network in DisCoM-KD (docs/methods.md, DisCoM-KD), and what `xmkd predict` deploys:
//
//   x (N,C_m,H,W) ─ enc_inv (ResNet-18) → 512 → projection: Linear(512→D) → BatchNorm1d → ReLU = z_inv (N,D)
//                 └ enc_spec (ResNet-18) → 512 → [z_inf = first D | z_irr = second D]
//   logits = classifier(input) → (N,C), input = [z_inv ‖ z_inf] (2D), or z_inv / z_inf alone (D)
//
// D = 256: z_inf and z_irr are the two halves of enc_spec's 512-d pooled feature, so D is not free.
// The representation ablations ("inv_only", "inf_only") change only what the classifier reads;
// both encoders stay in the network (the method's other losses still train them). forward()
// runs only the encoder(s) the classifier reads.
//
// State dict names: enc_inv.*, projection.0.* (Linear), projection.1.* (BatchNorm1d), enc_spec.*,
// classifier.*. DeploySpec "discom_branch" sizes: in_channels, num_classes, feature_dim (256),
// use_inv, use_inf (1 when the classifier reads z_inv / z_inf).
#pragma once
#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/method.h"
#include "models/resnet18.h"

namespace xmkd::models {

// Which features the task classifier reads.
enum class DiscomRepresentation { Both, InvOnly, InfOnly };
const char* representation_name(DiscomRepresentation r);   // "both", "inv_only", "inf_only"

struct DiscomBranchOutputs {
  Tensor z_inv;    // (N, D), post-ReLU
  Tensor z_inf;    // (N, D), a slice of a global average of post-ReLU maps, so >= 0
  Tensor z_irr;    // (N, D), likewise
  Tensor logits;   // (N, C)
};

class DiscomBranch : public Deployable {
 public:
  static constexpr int64_t kFeatureDim = ResNet18::kFeatureDim / 2;   // D = 256

  DiscomBranch(int64_t in_channels, int64_t num_classes, DiscomRepresentation representation);

  // Everything training needs: the three feature blocks and the logits.
  DiscomBranchOutputs features(const Tensor& x);
  Tensor forward(const Tensor& x) override;   // logits (N, C)
  DeploySpec spec() const override;
  GraphValue describe(GraphBuilder& g, GraphValue x) override;   // forward() as a graph

  int64_t in_channels() const { return in_channels_; }
  int64_t num_classes() const { return num_classes_; }
  DiscomRepresentation representation() const { return representation_; }
  bool uses_inv() const { return representation_ != DiscomRepresentation::InfOnly; }
  bool uses_inf() const { return representation_ != DiscomRepresentation::InvOnly; }
  nn::Linear& classifier() { return *classifier_; }

 private:
  Tensor invariant(const Tensor& x);                 // z_inv
  Tensor classify(const Tensor& z_inv, const Tensor& z_inf);   // either may be undefined if unused

  int64_t in_channels_, num_classes_;
  DiscomRepresentation representation_;
  std::shared_ptr<ResNet18> enc_inv_;
  std::shared_ptr<nn::Sequential> projection_;
  std::shared_ptr<ResNet18> enc_spec_;
  std::shared_ptr<nn::Linear> classifier_;
};

// Rebuilds an untrained branch from its spec; errors name the missing or invalid size.
std::shared_ptr<Deployable> make_discom_branch(const DeploySpec& spec);

}  // namespace xmkd::models
