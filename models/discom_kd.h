// DisCoM-KD (docs/methods.md, DisCoM-KD): one DiscomBranch per modality (models/discom_branch.h), trained
// together with the shared heads Cl_aux, Cl_inf, Cl_irr, Cl_adv by discom_loss
// (models/discom_loss.h), no teacher. Modality m's label is its position in `modalities`
// (0..M−1); each modality's batch is used with its own labels, so the modalities' batches need not
// hold the same samples.
//
// The "method" section (every key optional):
//   modalities   names of the dataset's modalities to train (>= 2; default all, dataset order)
//   grl_lambda   λ of the gradient reversal (1.0, >= 0)
//   features     "both" | "inv_only" | "inf_only": what each Cl_m reads (see discom_branch.h)
//   loss         {cl, adv, mod, aux, orth}: booleans, default true (at least one true)
//   weights      {cl, adv, mod, aux, orth}: non-negative numbers, default 1
// Outputs: one per trained modality, named after it, scored on its own labels; its checkpoint
// and deployable is the branch (child "branch_<modality>").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/io/config.h"
#include "engine/nn/layers.h"
#include "models/discom_branch.h"
#include "models/discom_loss.h"
#include "models/method.h"

namespace xmkd::models {

struct DiscomOptions {
  std::vector<int64_t> modalities;   // dataset indices, in training order (modality label = position)
  DiscomRepresentation representation = DiscomRepresentation::Both;
  DiscomLossOptions loss;            // grl_lambda, loss switches, weights
};
// Reads the keys above; errors name the key.
DiscomOptions parse_discom_options(const io::ConfigNode& config, const MethodContext& context);

class DiscomKD : public Method {
 public:
  DiscomKD(DiscomOptions options, MethodContext context);

  std::string name() const override { return "discom_kd"; }
  std::vector<MethodOutput> outputs() const override;
  // discom_loss (models/discom_loss.h) of the branches' outputs, each on its own modality's rows.
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;
  std::shared_ptr<Deployable> deployable(const std::string& output) override;

  const DiscomOptions& options() const { return options_; }
  int64_t num_modalities() const { return static_cast<int64_t>(branches_.size()); }
  DiscomBranch& branch(int64_t m) { return *branches_.at(static_cast<size_t>(m)); }   // m: modality label
  const DiscomHeads& heads() const { return heads_; }   // children cl_aux, cl_inf, cl_irr, cl_adv

 private:
  int64_t label_of_output(const std::string& output) const;   // error lists the outputs

  DiscomOptions options_;
  MethodContext context_;
  std::vector<std::shared_ptr<DiscomBranch>> branches_;
  DiscomHeads heads_;
};

}  // namespace xmkd::models
