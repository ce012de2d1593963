// DisCoM-KD's loss (docs/methods.md, DisCoM-KD) from the branches' outputs. For modality label m (0..M−1)
// with its own rows' class labels y_m (nothing pairs rows across modalities):
//   L_cl   = Σ_m CE(Cl_m, y_m)                       (Cl_m's logits come with the branch's outputs)
//   L_adv  = Σ_m CE(Cl_adv(GRL_λ(z_inv_m)), m)       (GRL: identity forward, −λ·g backward)
//   L_mod  = Σ_m CE(Cl_inf(z_inf_m), m) + CE(Cl_irr(z_irr_m), m)
//   L_aux  = Σ_m CE(Cl_aux(z_inv_m), y_m) + CE(Cl_aux(z_inf_m), y_m)
//   L_orth = Σ_m mean_b cos(z_inv_m, z_inf_m) + mean_b cos(z_inf_m, z_irr_m)
//   total  = Σ_k weight_k · L_k over the terms switched on
// A term switched off is not computed: absent from the total, the gradients and the parts.
#pragma once
#include <array>
#include <memory>
#include <vector>

#include "engine/nn/layers.h"
#include "losses/loss_terms.h"
#include "models/discom_branch.h"

namespace xmkd::models {

enum class DiscomTerm { Cl, Adv, Mod, Aux, Orth };
constexpr int kDiscomTerms = 5;
const char* discom_term_name(DiscomTerm term);   // "cl", "adv", "mod", "aux", "orth" (the loss part names)

struct DiscomLossOptions {
  double grl_lambda = 1.0;
  std::array<bool, kDiscomTerms> enabled = {true, true, true, true, true};   // indexed by DiscomTerm
  std::array<double, kDiscomTerms> weights = {1, 1, 1, 1, 1};
  bool on(DiscomTerm t) const { return enabled[static_cast<int>(t)]; }
  double weight(DiscomTerm t) const { return weights[static_cast<int>(t)]; }
};

// The heads shared by every modality, each one Linear layer on a D = 256 feature.
struct DiscomHeads {
  std::shared_ptr<nn::Linear> aux;   // D → C
  std::shared_ptr<nn::Linear> inf;   // D → M
  std::shared_ptr<nn::Linear> irr;   // D → M
  std::shared_ptr<nn::Linear> adv;   // D → M
  static DiscomHeads make(int64_t modalities, int64_t classes);
};

// features[m], labels[m] (N_m int64) of modality label m; M = features.size() = the heads' M.
// parts: the unweighted terms switched on, in the order cl, adv, mod, aux, orth (detached).
LossTerms discom_loss(const DiscomLossOptions& options, const DiscomHeads& heads,
                      const std::vector<DiscomBranchOutputs>& features, const std::vector<Tensor>& labels);

}  // namespace xmkd::models
