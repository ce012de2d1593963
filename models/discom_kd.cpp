#include "models/discom_kd.h"

#include <cmath>
#include <utility>

#include "engine/ops.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::models {

namespace {

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

}  // namespace

DiscomOptions parse_discom_options(const io::ConfigNode& config, const MethodContext& context) {
  if (context.task != data::Task::Classification)
    config.fail("name", "discom_kd trains classifiers; this dataset's task is not classification");
  if (context.num_classes < 2)
    config.fail("name", "discom_kd needs a dataset with at least 2 classes, got " + std::to_string(context.num_classes));
  DiscomOptions options;

  options.modalities = modalities_from_config(config, context, 2, "DisCoM-KD");
  for (int64_t m : options.modalities) {
    const std::string& name = context.modalities[static_cast<size_t>(m)].name;
    if (!usable_in_key(name))
      config.fail("modalities", "modality name '" + name + "' must use only letters, digits, '_' and '-'");
  }


  options.loss.grl_lambda = config.get_float("grl_lambda", 1.0);
  if (!std::isfinite(options.loss.grl_lambda) || options.loss.grl_lambda < 0)
    config.fail("grl_lambda", "expected a finite number >= 0, got " + std::to_string(options.loss.grl_lambda));

  const std::string features = config.get_choice("features", "both", {"both", "inv_only", "inf_only"});
  options.representation = features == "both"       ? DiscomRepresentation::Both
                           : features == "inv_only" ? DiscomRepresentation::InvOnly
                                                    : DiscomRepresentation::InfOnly;

  io::ConfigNode loss = config.child("loss");
  io::ConfigNode weights = config.child("weights");
  bool any = false;
  for (DiscomTerm term : {DiscomTerm::Cl, DiscomTerm::Adv, DiscomTerm::Mod, DiscomTerm::Aux, DiscomTerm::Orth}) {
    const int i = static_cast<int>(term);
    const std::string key = discom_term_name(term);
    options.loss.enabled[i] = loss.get_bool(key, true);
    options.loss.weights[i] = weights.get_float(key, 1.0);
    if (!std::isfinite(options.loss.weights[i]) || options.loss.weights[i] < 0)
      weights.fail(key, "expected a finite weight >= 0, got " + std::to_string(options.loss.weights[i]));
    any = any || options.loss.enabled[i];
  }
  if (!any) config.fail("loss", "every term (cl, adv, mod, aux, orth) is switched off: nothing to train");
  return options;
}

DiscomKD::DiscomKD(DiscomOptions options, MethodContext context)
    : options_(std::move(options)), context_(std::move(context)) {
  const int64_t m_count = static_cast<int64_t>(options_.modalities.size());
  XMKD_CHECK(m_count >= 2, "discom_kd: needs at least 2 modalities, got ", m_count);
  const int64_t classes = context_.num_classes;
  for (int64_t index : options_.modalities) {
    const data::ModalitySpec& spec = context_.modalities.at(static_cast<size_t>(index));
    branches_.push_back(register_module(
        "branch_" + spec.name, std::make_shared<DiscomBranch>(spec.channels, classes, options_.representation)));
  }
  heads_ = DiscomHeads::make(m_count, classes);
  register_module("cl_aux", heads_.aux);
  register_module("cl_inf", heads_.inf);
  register_module("cl_irr", heads_.irr);
  register_module("cl_adv", heads_.adv);
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
  return discom_loss(options_.loss, heads_, features, labels);
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
  for (size_t m = 0; m < options_.modalities.size(); ++m) {
    if (context_.modalities.at(static_cast<size_t>(options_.modalities[m])).name == output) return static_cast<int64_t>(m);
  }
  fail("discom_kd: no output '", output, "' (it has: ", output_names(outputs()), ")");
}

Module& DiscomKD::checkpoint_module(const std::string& output) { return branch(label_of_output(output)); }

std::shared_ptr<Deployable> DiscomKD::deployable(const std::string& output) {
  return branches_.at(static_cast<size_t>(label_of_output(output)));
}

std::shared_ptr<Method> make_discom_kd(const io::ConfigNode& config, const MethodContext& context) {
  return std::make_shared<DiscomKD>(parse_discom_options(config, context), context);
}

}  // namespace xmkd::models
