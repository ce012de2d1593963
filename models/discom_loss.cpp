#include "models/discom_loss.h"

#include "engine/ops.h"

namespace xmkd::models {

namespace {

constexpr DiscomTerm kTerms[kDiscomTerms] = {DiscomTerm::Cl, DiscomTerm::Adv, DiscomTerm::Mod, DiscomTerm::Aux,
                                             DiscomTerm::Orth};

// a + b, where an undefined a is zero.
Tensor accumulate(const Tensor& a, const Tensor& b) { return a.defined() ? add(a, b) : b; }

// (n) int64 filled with `value`, on `device`: the modality label of every row of a batch.
Tensor constant_labels(int64_t n, int64_t value, Device device) {
  return Tensor::from_vector(std::vector<int64_t>(static_cast<size_t>(n), value), {n}, device);
}

}  // namespace

const char* discom_term_name(DiscomTerm term) {
  switch (term) {
    case DiscomTerm::Cl: return "cl";
    case DiscomTerm::Adv: return "adv";
    case DiscomTerm::Mod: return "mod";
    case DiscomTerm::Aux: return "aux";
    case DiscomTerm::Orth: return "orth";
  }
  return "?";
}

DiscomHeads DiscomHeads::make(int64_t modalities, int64_t classes) {
  XMKD_CHECK(modalities >= 2 && classes > 0, "DiscomHeads: needs >= 2 modalities and > 0 classes, got ", modalities,
             " and ", classes);
  const int64_t d = DiscomBranch::kFeatureDim;
  return DiscomHeads{std::make_shared<nn::Linear>(d, classes), std::make_shared<nn::Linear>(d, modalities),
                     std::make_shared<nn::Linear>(d, modalities), std::make_shared<nn::Linear>(d, modalities)};
}

LossTerms discom_loss(const DiscomLossOptions& options, const DiscomHeads& heads,
                      const std::vector<DiscomBranchOutputs>& features, const std::vector<Tensor>& labels) {
  const int64_t m_count = heads.adv->weight.dim(0);
  XMKD_CHECK(static_cast<int64_t>(features.size()) == m_count && static_cast<int64_t>(labels.size()) == m_count,
             "discom_loss: needs features and labels for each of the ", m_count, " modalities, got ", features.size(),
             " and ", labels.size());
  const float lambda = static_cast<float>(options.grl_lambda);
  Tensor term[kDiscomTerms];   // each the sum over modalities of its CE / cosine terms
  auto add_to = [&](DiscomTerm t, const Tensor& value) {
    term[static_cast<int>(t)] = accumulate(term[static_cast<int>(t)], value);
  };

  for (int64_t m = 0; m < m_count; ++m) {
    const DiscomBranchOutputs& f = features[static_cast<size_t>(m)];
    const Tensor& y = labels[static_cast<size_t>(m)];
    XMKD_CHECK(y.defined() && y.ndim() == 1 && f.logits.defined() && f.logits.ndim() == 2 &&
                   f.logits.dim(0) == y.dim(0),
               "discom_loss: modality ", m, " has logits ", f.logits.defined() ? f.logits.str() : "undefined",
               " and labels ", y.defined() ? y.str() : "undefined", " (expected (N, C) and (N))");
    Tensor modality = constant_labels(y.dim(0), m, y.device());

    if (options.on(DiscomTerm::Cl)) add_to(DiscomTerm::Cl, cross_entropy(f.logits, y));
    if (options.on(DiscomTerm::Adv))
      add_to(DiscomTerm::Adv, cross_entropy(heads.adv->forward(gradient_reversal(f.z_inv, lambda)), modality));
    if (options.on(DiscomTerm::Mod)) {
      add_to(DiscomTerm::Mod, cross_entropy(heads.inf->forward(f.z_inf), modality));
      add_to(DiscomTerm::Mod, cross_entropy(heads.irr->forward(f.z_irr), modality));
    }
    if (options.on(DiscomTerm::Aux)) {
      add_to(DiscomTerm::Aux, cross_entropy(heads.aux->forward(f.z_inv), y));
      add_to(DiscomTerm::Aux, cross_entropy(heads.aux->forward(f.z_inf), y));
    }
    if (options.on(DiscomTerm::Orth)) {
      add_to(DiscomTerm::Orth, mean(cosine_similarity(f.z_inv, f.z_inf)));
      add_to(DiscomTerm::Orth, mean(cosine_similarity(f.z_inf, f.z_irr)));
    }
  }

  LossTerms out;
  for (DiscomTerm t : kTerms) {
    if (!options.on(t)) continue;
    const Tensor& value = term[static_cast<int>(t)];
    out.total = accumulate(out.total, scale(value, static_cast<float>(options.weight(t))));
    out.parts.emplace_back(discom_term_name(t), value.detach());
  }
  XMKD_CHECK(out.total.defined(), "discom_loss: every term is switched off");
  return out;
}

}  // namespace xmkd::models
