#include "models/discom_branch.h"

#include <vector>

#include "engine/ops.h"

namespace xmkd::models {

const char* representation_name(DiscomRepresentation r) {
  switch (r) {
    case DiscomRepresentation::Both: return "both";
    case DiscomRepresentation::InvOnly: return "inv_only";
    case DiscomRepresentation::InfOnly: return "inf_only";
  }
  return "?";
}

DiscomBranch::DiscomBranch(int64_t in_channels, int64_t num_classes, DiscomRepresentation representation)
    : in_channels_(in_channels), num_classes_(num_classes), representation_(representation) {
  XMKD_CHECK(in_channels > 0 && num_classes > 0, "DiscomBranch: in_channels and num_classes must be positive, got ",
             in_channels, " and ", num_classes);
  const int64_t d = kFeatureDim;
  enc_inv_ = register_module("enc_inv", std::make_shared<ResNet18>(in_channels, 0));
  projection_ = register_module("projection", std::make_shared<nn::Sequential>());
  projection_->add(std::make_shared<nn::Linear>(ResNet18::kFeatureDim, d));
  projection_->add(std::make_shared<nn::BatchNorm1d>(d));
  projection_->add(std::make_shared<nn::ReLU>());
  enc_spec_ = register_module("enc_spec", std::make_shared<ResNet18>(in_channels, 0));
  const int64_t classifier_in = representation == DiscomRepresentation::Both ? 2 * d : d;
  classifier_ = register_module("classifier", std::make_shared<nn::Linear>(classifier_in, num_classes));
}

Tensor DiscomBranch::invariant(const Tensor& x) { return projection_->forward(enc_inv_->features(x).pooled); }

Tensor DiscomBranch::classify(const Tensor& z_inv, const Tensor& z_inf) {
  switch (representation_) {
    case DiscomRepresentation::Both: return classifier_->forward(concat_channels({z_inv, z_inf}));
    case DiscomRepresentation::InvOnly: return classifier_->forward(z_inv);
    case DiscomRepresentation::InfOnly: return classifier_->forward(z_inf);
  }
  fail("DiscomBranch: unknown representation");
}

DiscomBranchOutputs DiscomBranch::features(const Tensor& x) {
  check_defined("DiscomBranch", "x", x);
  XMKD_CHECK(x.ndim() == 4 && x.dim(1) == in_channels_, "DiscomBranch(in_channels=", in_channels_,
             "): expects x of shape (N, ", in_channels_, ", H, W), got ", x.str());
  DiscomBranchOutputs out;
  out.z_inv = invariant(x);
  std::vector<Tensor> halves = split_channels(enc_spec_->features(x).pooled, {kFeatureDim, kFeatureDim});
  out.z_inf = halves[0];
  out.z_irr = halves[1];
  out.logits = classify(out.z_inv, out.z_inf);
  return out;
}

Tensor DiscomBranch::forward(const Tensor& x) {
  check_defined("DiscomBranch", "x", x);
  XMKD_CHECK(x.ndim() == 4 && x.dim(1) == in_channels_, "DiscomBranch(in_channels=", in_channels_,
             "): expects x of shape (N, ", in_channels_, ", H, W), got ", x.str());
  Tensor z_inv = uses_inv() ? invariant(x) : Tensor();
  Tensor z_inf = uses_inf() ? slice_channels(enc_spec_->features(x).pooled, 0, kFeatureDim) : Tensor();
  return classify(z_inv, z_inf);
}

GraphValue DiscomBranch::describe(GraphBuilder& g, GraphValue x) {
  GraphValue z_inv, z_inf;
  if (uses_inv()) {
    // projection: Linear -> BatchNorm1d -> ReLU (the constructor's order).
    z_inv = g.linear(enc_inv_->describe_features(g, x).pooled, static_cast<const nn::Linear&>((*projection_)[0]));
    z_inv = g.relu(g.batch_norm(z_inv, static_cast<const nn::BatchNorm&>((*projection_)[1])));
  }
  if (uses_inf()) z_inf = g.slice_channels(enc_spec_->describe_features(g, x).pooled, 0, kFeatureDim);
  switch (representation_) {
    case DiscomRepresentation::Both: return g.linear(g.concat_channels({z_inv, z_inf}), *classifier_);
    case DiscomRepresentation::InvOnly: return g.linear(z_inv, *classifier_);
    case DiscomRepresentation::InfOnly: return g.linear(z_inf, *classifier_);
  }
  fail("DiscomBranch: unknown representation");
}

DeploySpec DiscomBranch::spec() const {
  return DeploySpec{"discom_branch",
                    {{"in_channels", in_channels_},
                     {"num_classes", num_classes_},
                     {"feature_dim", kFeatureDim},
                     {"use_inv", uses_inv() ? 1 : 0},
                     {"use_inf", uses_inf() ? 1 : 0}}};
}

std::shared_ptr<Deployable> make_discom_branch(const DeploySpec& spec) {
  auto size = [&](const char* key) {
    auto it = spec.sizes.find(key);
    XMKD_CHECK(it != spec.sizes.end(), "discom_branch: the deploy spec has no size '", key,
               "' (expected in_channels, num_classes, feature_dim, use_inv, use_inf)");
    return it->second;
  };
  const int64_t feature_dim = size("feature_dim");
  XMKD_CHECK(feature_dim == DiscomBranch::kFeatureDim, "discom_branch: feature_dim must be ", DiscomBranch::kFeatureDim,
             " (half of the 512-d ResNet-18 feature), got ", feature_dim);
  const int64_t use_inv = size("use_inv"), use_inf = size("use_inf");
  XMKD_CHECK((use_inv == 0 || use_inv == 1) && (use_inf == 0 || use_inf == 1) && use_inv + use_inf > 0,
             "discom_branch: use_inv and use_inf must be 0 or 1 and not both 0, got ", use_inv, " and ", use_inf);
  DiscomRepresentation representation = use_inv && use_inf ? DiscomRepresentation::Both
                                        : use_inv          ? DiscomRepresentation::InvOnly
                                                           : DiscomRepresentation::InfOnly;
  return std::make_shared<DiscomBranch>(size("in_channels"), size("num_classes"), representation);
}

}  // namespace xmkd::models
