#include "models/discom_kd.h"

#include <cmath>
#include <set>
#include <utility>

#include "engine/ops.h"
#include "models/methods.h"

namespace xmkd::models {

namespace {

constexpr DiscomTerm kTerms[kDiscomTerms] = {DiscomTerm::Cl, DiscomTerm::Adv, DiscomTerm::Mod, DiscomTerm::Aux,
                                             DiscomTerm::Orth};

// A modality name becomes part of a state-dict key ("branch_<name>.enc_inv..."), so it may not
// hold the key separator or anything a file name would trip on.
bool usable_in_key(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

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

DiscomOptions parse_discom_options(const io::ConfigNode& config, const MethodContext& context) {
  if (context.task != data::Task::Classification)
    config.fail("name", "discom_kd trains classifiers; this dataset's task is not classification");
  if (context.num_classes < 2)
    config.fail("name", "discom_kd needs a dataset with at least 2 classes, got " + std::to_string(context.num_classes));
  DiscomOptions options;

  std::vector<std::string> all;
  std::string known;
  for (const data::ModalitySpec& m : context.modalities) {
    all.push_back(m.name);
    known += (known.empty() ? "" : ", ") + m.name;
  }
  std::vector<std::string> names = config.get_strings("modalities", all);
  std::set<std::string> seen;
  for (const std::string& name : names) {
    int64_t index = -1;
    for (size_t i = 0; i < context.modalities.size(); ++i)
      if (context.modalities[i].name == name) index = static_cast<int64_t>(i);
    if (index < 0) config.fail("modalities", "no modality '" + name + "' in this dataset (it has: " + known + ")");
    if (!seen.insert(name).second) config.fail("modalities", "modality '" + name + "' is listed twice");
    if (!usable_in_key(name))
      config.fail("modalities", "modality name '" + name + "' must use only letters, digits, '_' and '-'");
    options.modalities.push_back(index);
  }
  if (options.modalities.size() < 2)
    config.fail("modalities", "DisCoM-KD needs at least 2 modalities, got " + std::to_string(options.modalities.size()));

  const int64_t feature_dim = config.get_int("feature_dim", DiscomBranch::kFeatureDim);
  if (feature_dim != DiscomBranch::kFeatureDim)
    config.fail("feature_dim", "must be " + std::to_string(DiscomBranch::kFeatureDim) +
                                   " (z_inf and z_irr are the halves of the 512-d ResNet-18 feature), got " +
                                   std::to_string(feature_dim));

  options.grl_lambda = config.get_float("grl_lambda", 1.0);
  if (!std::isfinite(options.grl_lambda) || options.grl_lambda < 0)
    config.fail("grl_lambda", "expected a finite number >= 0, got " + std::to_string(options.grl_lambda));

  const std::string features = config.get_choice("features", "both", {"both", "inv_only", "inf_only"});
  options.representation = features == "both"       ? DiscomRepresentation::Both
                           : features == "inv_only" ? DiscomRepresentation::InvOnly
                                                    : DiscomRepresentation::InfOnly;

  io::ConfigNode loss = config.child("loss");
  io::ConfigNode weights = config.child("weights");
  bool any = false;
  for (DiscomTerm term : kTerms) {
    const int i = static_cast<int>(term);
    const std::string key = discom_term_name(term);
    options.enabled[i] = loss.get_bool(key, true);
    options.weights[i] = weights.get_float(key, 1.0);
    if (!std::isfinite(options.weights[i]) || options.weights[i] < 0)
      weights.fail(key, "expected a finite weight >= 0, got " + std::to_string(options.weights[i]));
    any = any || options.enabled[i];
  }
  if (!any) config.fail("loss", "every term (cl, adv, mod, aux, orth) is switched off: nothing to train");
  return options;
}

DiscomKD::DiscomKD(DiscomOptions options, MethodContext context)
    : options_(std::move(options)), context_(std::move(context)) {
  const int64_t m_count = static_cast<int64_t>(options_.modalities.size());
  XMKD_CHECK(m_count >= 2, "discom_kd: needs at least 2 modalities, got ", m_count);
  const int64_t d = DiscomBranch::kFeatureDim, classes = context_.num_classes;
  for (int64_t index : options_.modalities) {
    const data::ModalitySpec& spec = context_.modalities.at(static_cast<size_t>(index));
    branches_.push_back(register_module(
        "branch_" + spec.name, std::make_shared<DiscomBranch>(spec.channels, classes, options_.representation)));
  }
  cl_aux_ = register_module("cl_aux", std::make_shared<nn::Linear>(d, classes));
  cl_inf_ = register_module("cl_inf", std::make_shared<nn::Linear>(d, m_count));
  cl_irr_ = register_module("cl_irr", std::make_shared<nn::Linear>(d, m_count));
  cl_adv_ = register_module("cl_adv", std::make_shared<nn::Linear>(d, m_count));
  to(context_.device);
}

std::vector<MethodOutput> DiscomKD::outputs() const {
  std::vector<MethodOutput> out;
  for (int64_t index : options_.modalities)
    out.push_back(MethodOutput{context_.modalities.at(static_cast<size_t>(index)).name, index, {index}});
  return out;
}

LossTerms DiscomKD::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  (void)progress;   // λ is fixed: nothing changes over training
  XMKD_CHECK(batch.inputs.size() == context_.modalities.size(), "discom_kd: the batch has ", batch.inputs.size(),
             " modalities, the method was built for ", context_.modalities.size());
  XMKD_CHECK(batch.labels.size() == context_.modalities.size(),
             "discom_kd: the batch has class labels for ", batch.labels.size(), " of its ",
             context_.modalities.size(), " modalities (a classification dataset gives every modality its labels)");
  std::vector<DiscomBranchOutputs> features;
  std::vector<Tensor> labels;
  for (int64_t m = 0; m < num_modalities(); ++m) {
    const size_t index = static_cast<size_t>(options_.modalities[static_cast<size_t>(m)]);
    features.push_back(branches_[static_cast<size_t>(m)]->features(batch.inputs[index]));
    labels.push_back(batch.labels[index]);   // this modality's own samples' labels
  }
  return loss_from_features(features, labels);
}

LossTerms DiscomKD::loss_from_features(const std::vector<DiscomBranchOutputs>& features,
                                       const std::vector<Tensor>& labels) {
  XMKD_CHECK(static_cast<int64_t>(features.size()) == num_modalities() &&
                 static_cast<int64_t>(labels.size()) == num_modalities(),
             "discom_kd: loss_from_features needs features and labels for each of the ", num_modalities(),
             " modalities, got ", features.size(), " and ", labels.size());
  const float lambda = static_cast<float>(options_.grl_lambda);
  Tensor term[kDiscomTerms];   // each the sum over modalities of its CE / cosine terms
  auto add_to = [&](DiscomTerm t, const Tensor& value) {
    term[static_cast<int>(t)] = accumulate(term[static_cast<int>(t)], value);
  };

  for (int64_t m = 0; m < num_modalities(); ++m) {
    const DiscomBranchOutputs& f = features[static_cast<size_t>(m)];
    const Tensor& y = labels[static_cast<size_t>(m)];
    const std::string& name = context_.modalities.at(static_cast<size_t>(options_.modalities[static_cast<size_t>(m)])).name;
    XMKD_CHECK(y.defined() && y.ndim() == 1 && f.logits.defined() && f.logits.ndim() == 2 &&
                   f.logits.dim(0) == y.dim(0),
               "discom_kd: modality '", name, "' has logits ", f.logits.defined() ? f.logits.str() : "undefined",
               " and labels ", y.defined() ? y.str() : "undefined", " (expected (N, C) and (N))");
    Tensor modality = constant_labels(y.dim(0), m, y.device());   // the modality label m of every row

    if (options_.on(DiscomTerm::Cl)) add_to(DiscomTerm::Cl, cross_entropy(f.logits, y));
    if (options_.on(DiscomTerm::Adv))
      add_to(DiscomTerm::Adv, cross_entropy(cl_adv_->forward(gradient_reversal(f.z_inv, lambda)), modality));
    if (options_.on(DiscomTerm::Mod)) {
      add_to(DiscomTerm::Mod, cross_entropy(cl_inf_->forward(f.z_inf), modality));
      add_to(DiscomTerm::Mod, cross_entropy(cl_irr_->forward(f.z_irr), modality));
    }
    if (options_.on(DiscomTerm::Aux)) {
      add_to(DiscomTerm::Aux, cross_entropy(cl_aux_->forward(f.z_inv), y));
      add_to(DiscomTerm::Aux, cross_entropy(cl_aux_->forward(f.z_inf), y));
    }
    if (options_.on(DiscomTerm::Orth)) {
      add_to(DiscomTerm::Orth, mean(cosine_similarity(f.z_inv, f.z_inf)));
      add_to(DiscomTerm::Orth, mean(cosine_similarity(f.z_inf, f.z_irr)));
    }
  }

  LossTerms out;
  for (DiscomTerm t : kTerms) {
    if (!options_.on(t)) continue;
    const Tensor& value = term[static_cast<int>(t)];
    out.total = accumulate(out.total, scale(value, static_cast<float>(options_.weight(t))));
    out.parts.emplace_back(discom_term_name(t), value.detach());
  }
  return out;
}

std::vector<Tensor> DiscomKD::predict(const data::Batch& batch) {
  XMKD_CHECK(batch.inputs.size() == context_.modalities.size(), "discom_kd: the batch has ", batch.inputs.size(),
             " modalities, the method was built for ", context_.modalities.size());
  std::vector<Tensor> logits;
  for (int64_t m = 0; m < num_modalities(); ++m)
    logits.push_back(branches_[static_cast<size_t>(m)]->forward(
        batch.inputs[static_cast<size_t>(options_.modalities[static_cast<size_t>(m)])]));
  return logits;
}

int64_t DiscomKD::label_of_output(const std::string& output) const {
  std::string names;
  for (size_t m = 0; m < options_.modalities.size(); ++m) {
    const std::string& name = context_.modalities.at(static_cast<size_t>(options_.modalities[m])).name;
    if (name == output) return static_cast<int64_t>(m);
    names += (names.empty() ? "" : ", ") + name;
  }
  fail("discom_kd: no output '", output, "' (it has: ", names, ")");
}

Module& DiscomKD::checkpoint_module(const std::string& output) { return branch(label_of_output(output)); }

std::shared_ptr<Deployable> DiscomKD::deployable(const std::string& output) {
  return branches_.at(static_cast<size_t>(label_of_output(output)));
}

std::shared_ptr<Method> make_discom_kd(const io::ConfigNode& config, const MethodContext& context) {
  return std::make_shared<DiscomKD>(parse_discom_options(config, context), context);
}

}  // namespace xmkd::models
