// DisCoM-KD (METHODS.md §1): one DiscomBranch per modality, trained together with shared heads,
// no teacher. For modality m (modality label m = its position in `modalities`, 0..M−1) with its own
// batch (x_m, y_m) — the modalities' batches need not hold the same samples:
//   L_cl   = Σ_m CE(Cl_m(x_m), y_m)                                   (the branch's classifier)
//   L_adv  = Σ_m CE(Cl_adv(GRL_λ(z_inv_m)), m)                        (GRL: identity, backward −λ·g)
//   L_mod  = Σ_m CE(Cl_inf(z_inf_m), m) + CE(Cl_irr(z_irr_m), m)
//   L_aux  = Σ_m CE(Cl_aux(z_inv_m), y_m) + CE(Cl_aux(z_inf_m), y_m)
//   L_orth = Σ_m mean_b cos(z_inv_m, z_inf_m) + mean_b cos(z_inf_m, z_irr_m)
//   total  = Σ_k weight_k · L_k over the terms switched on
// Heads: Cl_aux Linear(D→C), Cl_inf / Cl_irr / Cl_adv Linear(D→M).
//
// The "method" section (every key optional):
//   modalities   names of the dataset's modalities to train (>= 2; default all, dataset order)
//   feature_dim  256 (the only value: z_inf, z_irr are halves of a 512-d feature)
//   grl_lambda   λ of the gradient reversal (1.0, >= 0)
//   features     "both" | "inv_only" | "inf_only": what each Cl_m reads (see discom_branch.h)
//   loss         {cl, adv, mod, aux, orth}: booleans, default true (at least one true)
//   weights      {cl, adv, mod, aux, orth}: non-negative numbers, default 1
// Outputs: one per trained modality, named after it, scored on its own labels; its checkpoint
// and deployable is the branch (child "branch_<modality>").
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/config.h"
#include "engine/nn/layers.h"
#include "models/discom_branch.h"
#include "models/method.h"

namespace xmkd::models {

enum class DiscomTerm { Cl, Adv, Mod, Aux, Orth };
constexpr int kDiscomTerms = 5;
const char* discom_term_name(DiscomTerm term);   // "cl", "adv", "mod", "aux", "orth" (the loss part names)

struct DiscomOptions {
  std::vector<int64_t> modalities;               // dataset indices, in training order (modality label = position)
  double grl_lambda = 1.0;
  DiscomRepresentation representation = DiscomRepresentation::Both;
  std::array<bool, kDiscomTerms> enabled = {true, true, true, true, true};   // indexed by DiscomTerm
  std::array<double, kDiscomTerms> weights = {1, 1, 1, 1, 1};
  bool on(DiscomTerm t) const { return enabled[static_cast<int>(t)]; }
  double weight(DiscomTerm t) const { return weights[static_cast<int>(t)]; }
};
// Reads the keys above; errors name the key.
DiscomOptions parse_discom_options(const io::ConfigNode& config, const MethodContext& context);

class DiscomKD : public Method {
 public:
  DiscomKD(DiscomOptions options, MethodContext context);

  std::string name() const override { return "discom_kd"; }
  std::vector<MethodOutput> outputs() const override;
  // parts: the unweighted terms switched on, in the order cl, adv, mod, aux, orth.
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;
  // The loss from the branches' outputs: features[m], labels[m] (N_m) of modality label m.
  LossTerms loss_from_features(const std::vector<DiscomBranchOutputs>& features, const std::vector<Tensor>& labels);
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;
  std::shared_ptr<Deployable> deployable(const std::string& output) override;

  const DiscomOptions& options() const { return options_; }
  int64_t num_modalities() const { return static_cast<int64_t>(branches_.size()); }
  DiscomBranch& branch(int64_t m) { return *branches_.at(static_cast<size_t>(m)); }   // m: modality label
  nn::Linear& cl_aux() { return *cl_aux_; }
  nn::Linear& cl_inf() { return *cl_inf_; }
  nn::Linear& cl_irr() { return *cl_irr_; }
  nn::Linear& cl_adv() { return *cl_adv_; }

 private:
  int64_t label_of_output(const std::string& output) const;   // error lists the outputs

  DiscomOptions options_;
  MethodContext context_;
  std::vector<std::shared_ptr<DiscomBranch>> branches_;
  std::shared_ptr<nn::Linear> cl_aux_, cl_inf_, cl_irr_, cl_adv_;
};

}  // namespace xmkd::models
