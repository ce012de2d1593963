#include "models/crodino_kd.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "engine/ops.h"
#include "losses/contrastive.h"
#include "models/method_support.h"
#include "models/methods.h"

namespace xmkd::models {

CrodinoBranch::CrodinoBranch(int64_t in_channels, int64_t num_classes, int64_t feature_dim)
    : in_channels_(in_channels), num_classes_(num_classes), feature_dim_(feature_dim) {
  XMKD_CHECK(in_channels > 0 && num_classes > 0 && feature_dim > 0,
             "crodino_branch: in_channels, num_classes and feature_dim must be positive, got ", in_channels, ", ",
             num_classes, ", ", feature_dim);
  encoder_ = register_module("encoder", std::make_shared<ResNet18>(in_channels));
  inv_head_ = register_module("inv_head", std::make_shared<ConvBnRelu>(ResNet18::kFeatureDim, feature_dim, 1));
  spec_head_ = register_module("spec_head", std::make_shared<ConvBnRelu>(ResNet18::kFeatureDim, feature_dim, 1));
  decoder_ = register_module("decoder", std::make_shared<SegDecoder>(2 * feature_dim, num_classes));
}

CrodinoBranchOutputs CrodinoBranch::forward_all(const Tensor& x) {
  ResNetFeatures f = encoder_->features(x);
  CrodinoBranchOutputs out;
  out.z_inv = inv_head_->forward(f.c5);
  out.z_spec = spec_head_->forward(f.c5);
  out.skips = {f.c4, f.c3, f.c2};
  out.logits = decoder_->forward(concat_channels({out.z_inv, out.z_spec}), out.skips, x.dim(2), x.dim(3));
  return out;
}

Tensor CrodinoBranch::forward(const Tensor& x) { return forward_all(x).logits; }

GraphValue CrodinoBranch::describe(GraphBuilder& g, GraphValue x) {
  ResNetGraphFeatures f = encoder_->describe_features(g, x);
  GraphValue z = g.concat_channels({inv_head_->describe(g, f.c5), spec_head_->describe(g, f.c5)});
  return decoder_->describe(g, z, {f.c4, f.c3, f.c2});
}

DeploySpec CrodinoBranch::spec() const {
  return {"crodino_branch", {{"in_channels", in_channels_}, {"num_classes", num_classes_}, {"feature_dim", feature_dim_}}};
}

std::shared_ptr<Deployable> make_crodino_branch(const DeploySpec& spec) {
  auto size = [&](const std::string& key, int64_t fallback) {
    auto it = spec.sizes.find(key);
    XMKD_CHECK(it != spec.sizes.end() || fallback > 0, "crodino_branch: the deploy spec has no size '", key, "'");
    return it == spec.sizes.end() ? fallback : it->second;
  };
  return std::make_shared<CrodinoBranch>(size("in_channels", 0), size("num_classes", 0), size("feature_dim", 128));
}

CrodinoOptions parse_crodino_options(const io::ConfigNode& config, const MethodContext& context) {
  CrodinoOptions o;
  o.modalities = modalities_from_config(config, context, 2, "CroDiNo-KD");

  o.feature_dim = config.get_int("feature_dim", o.feature_dim);
  if (o.feature_dim <= 0) config.fail("feature_dim", "expected a positive integer, got " + std::to_string(o.feature_dim));
  o.temperature = config.get_float("temperature", o.temperature);
  if (!(o.temperature > 0.0)) config.fail("temperature", "expected a positive number, got " + std::to_string(o.temperature));
  o.grl_lambda = config.get_float("grl_lambda", o.grl_lambda);
  if (!(o.grl_lambda >= 0.0)) config.fail("grl_lambda", "expected a number >= 0, got " + std::to_string(o.grl_lambda));

  io::ConfigNode weights = config.child("weights");
  for (auto [key, value] : {std::pair<const char*, double*>{"seg", &o.weights.seg}, {"aux", &o.weights.aux},
                            {"con", &o.weights.con}, {"orth", &o.weights.orth}, {"adv", &o.weights.adv}}) {
    *value = weights.get_float(key, *value);
    if (!(*value >= 0.0)) weights.fail(key, "expected a weight >= 0, got " + std::to_string(*value));
  }
  io::ConfigNode loss = config.child("loss");
  for (auto [key, value] : {std::pair<const char*, bool*>{"seg", &o.loss.seg}, {"aux", &o.loss.aux},
                            {"con", &o.loss.con}, {"orth", &o.loss.orth}, {"adv", &o.loss.adv}}) {
    *value = loss.get_bool(key, *value);
  }
  if (!(o.loss.seg || o.loss.aux || o.loss.con || o.loss.orth || o.loss.adv))
    loss.fail("seg", "every loss term is switched off; nothing would be trained");
  return o;
}

CrodinoKD::CrodinoKD(CrodinoOptions options, const MethodContext& context)
    : options_(std::move(options)), context_(context) {
  XMKD_CHECK(context.task == data::Task::Segmentation, "crodino_kd: a segmentation method, but the dataset's task is ",
             data::task_name(context.task));
  XMKD_CHECK(context.num_classes > 0, "crodino_kd: num_classes must be positive, got ", context.num_classes);
  for (int64_t m : options_.modalities) {
    XMKD_CHECK(m >= 0 && m < static_cast<int64_t>(context.modalities.size()), "crodino_kd: modality index ", m,
               " is outside the dataset's ", context.modalities.size(), " modalities");
    const data::ModalitySpec& spec = context.modalities[static_cast<size_t>(m)];
    // Child names carry no dots, so that state-dict keys split unambiguously.
    std::string child = "branch_" + spec.name;
    std::replace(child.begin(), child.end(), '.', '_');
    branches_.push_back(register_module(
        child, std::make_shared<CrodinoBranch>(spec.channels, context.num_classes, options_.feature_dim)));
  }
  aux_decoder_ = register_module("aux_decoder", std::make_shared<SegDecoder>(options_.feature_dim, context.num_classes));
  if (options_.loss.adv) {
    discriminator_ = register_module(
        "discriminator", std::make_shared<nn::Linear>(options_.feature_dim, static_cast<int64_t>(branches_.size())));
  }
  to(context.device);
}

std::vector<MethodOutput> CrodinoKD::outputs() const {
  std::vector<MethodOutput> out;
  for (int64_t m : options_.modalities)
    out.push_back({context_.modalities[static_cast<size_t>(m)].name, m, {m}});
  return out;
}

LossTerms CrodinoKD::training_loss(const data::Batch& batch, const TrainProgress& progress) {
  (void)progress;
  XMKD_CHECK(batch.inputs.size() == context_.modalities.size(), "crodino_kd: the batch has ", batch.inputs.size(),
             " modalities, the method was built for ", context_.modalities.size());
  XMKD_CHECK(batch.label_maps.size() == batch.inputs.size(), "crodino_kd: the batch needs one label map per modality (",
             batch.inputs.size(), "), got ", batch.label_maps.size(), " (is the dataset a segmentation set?)");
  CrossEntropyOptions ce;
  ce.ignore_index = options_.ignore_index;
  const CrodinoOptions::Switches& on = options_.loss;

  Tensor seg, aux, orth, adv;
  auto accumulate = [](Tensor& total, const Tensor& term) { total = total.defined() ? add(total, term) : term; };
  std::vector<Tensor> z_inv, label_maps;
  for (size_t i = 0; i < branches_.size(); ++i) {
    const size_t m = static_cast<size_t>(options_.modalities[i]);
    const Tensor& x = batch.inputs[m];
    const Tensor& labels = batch.label_maps[m];
    CrodinoBranchOutputs out = branches_[i]->forward_all(x);
    if (on.seg) accumulate(seg, cross_entropy(out.logits, labels, ce));
    if (on.aux) accumulate(aux, cross_entropy(aux_decoder_->forward(out.z_inv, out.skips, x.dim(2), x.dim(3)), labels, ce));
    if (on.orth) accumulate(orth, losses::orthogonality_loss(out.z_inv, out.z_spec));
    if (on.adv) {
      Tensor pooled = gradient_reversal(global_avg_pool(out.z_inv), static_cast<float>(options_.grl_lambda));
      Tensor target = Tensor::from_vector(std::vector<int64_t>(static_cast<size_t>(x.dim(0)), static_cast<int64_t>(i)),
                                          {x.dim(0)}, x.device());
      accumulate(adv, cross_entropy(discriminator_->forward(pooled), target));
    }
    z_inv.push_back(out.z_inv);
    label_maps.push_back(labels);
  }
  Tensor con;
  if (on.con) {
    con = losses::cross_modal_prototype_contrast(z_inv, label_maps, context_.num_classes,
                                                 static_cast<float>(options_.temperature), options_.ignore_index);
  }

  LossTerms terms;
  const CrodinoOptions::Weights& w = options_.weights;
  for (auto [name, term, weight] : {std::tuple<const char*, Tensor, double>{"seg", seg, w.seg}, {"aux", aux, w.aux},
                                    {"con", con, w.con}, {"orth", orth, w.orth}, {"adv", adv, w.adv}}) {
    if (!term.defined()) continue;
    accumulate(terms.total, weight == 1.0 ? term : scale(term, static_cast<float>(weight)));
    terms.parts.emplace_back(name, term.detach());
  }
  return terms;
}

std::vector<Tensor> CrodinoKD::predict(const data::Batch& batch) {
  std::vector<Tensor> logits;
  for (size_t i = 0; i < branches_.size(); ++i) {
    const size_t m = static_cast<size_t>(options_.modalities[i]);
    XMKD_CHECK(m < batch.inputs.size(), "crodino_kd: the batch has ", batch.inputs.size(), " modalities, output '",
               context_.modalities[m].name, "' reads modality ", m);
    logits.push_back(branches_[i]->forward(batch.inputs[m]));
  }
  return logits;
}

size_t CrodinoKD::branch_of(const std::string& output) const {
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (context_.modalities[static_cast<size_t>(options_.modalities[i])].name == output) return i;
  }
  fail("crodino_kd: no output '", output, "' (it has: ", output_names(outputs()), ")");
}

Module& CrodinoKD::checkpoint_module(const std::string& output) { return *branches_[branch_of(output)]; }

std::shared_ptr<Deployable> CrodinoKD::deployable(const std::string& output) { return branches_[branch_of(output)]; }

std::shared_ptr<Method> make_crodino_kd(const io::ConfigNode& config, const MethodContext& context) {
  return std::make_shared<CrodinoKD>(parse_crodino_options(config, context), context);
}

}  // namespace xmkd::models
