#include "losses/contrastive.h"

#include <map>
#include <utility>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

namespace xmkd::losses {
namespace {

// Added to the self-similarity of each row so that exp() of it is exactly 0 in float32.
constexpr float kExcluded = -1e9f;

void check_label_map(const char* op, const char* arg, const Tensor& labels) {
  check_dtype(op, arg, labels, DType::Int64);
  check_ndim(op, arg, labels, 3);
}

// One prototype set as an (1, P·D) row, so that two sets concatenate along dim 1.
Tensor as_row(const Tensor& prototypes) { return reshape(prototypes, {1, prototypes.numel()}); }

}  // namespace

Tensor resize_labels_nearest(const Tensor& labels, int64_t h, int64_t w) {
  const char* op = "resize_labels_nearest";
  check_label_map(op, "labels", labels);
  XMKD_CHECK(h > 0 && w > 0, op, ": the output size must be positive, got (", h, ", ", w, ") for labels ",
             shape_str(labels.shape()));
  const int64_t N = labels.dim(0), H = labels.dim(1), W = labels.dim(2);
  if (H == h && W == w) return labels;
  Tensor out = Tensor::empty({N, h, w}, DType::Int64, labels.device());
  XMKD_DISPATCH(labels.device(), resize_labels_nearest, labels.data<int64_t>(), N, H, W, h, w, out.data<int64_t>());
  return out;
}

ClassPrototypes class_prototypes(const Tensor& features, const Tensor& labels, int64_t num_classes,
                                 int64_t ignore_index) {
  const char* op = "class_prototypes";
  check_dtype(op, "features", features, DType::Float32);
  check_ndim(op, "features", features, 4);
  check_label_map(op, "labels", labels);
  check_same_device(op, features, labels);
  XMKD_CHECK(num_classes > 0, op, ": num_classes must be positive, got ", num_classes);
  const int64_t N = features.dim(0), D = features.dim(1), hw = features.dim(2) * features.dim(3);
  XMKD_CHECK(labels.dim(0) == N && labels.dim(1) == features.dim(2) && labels.dim(2) == features.dim(3), op,
             ": labels of shape ", shape_str(labels.shape()), " do not match features of shape ",
             shape_str(features.shape()), " (resize the label map to the feature map first)");
  const Device device = features.device();

  Tensor counts = Tensor::empty({N, num_classes}, DType::Int64, device);
  Tensor bad_position = Tensor::empty({1}, DType::Int64, device);
  XMKD_DISPATCH(device, class_pixel_counts, labels.data<int64_t>(), N, hw, num_classes, ignore_index,
                counts.data<int64_t>(), bad_position.data<int64_t>());
  const int64_t bad = bad_position.to_vector<int64_t>()[0];
  if (bad >= 0) {
    const int64_t value = labels.to_vector<int64_t>()[static_cast<size_t>(bad)];
    fail(op, ": label ", value, " in sample ", bad / hw, " of labels ", shape_str(labels.shape()), " is outside [0, ",
         num_classes, ") and is not the ignore_index (", ignore_index, ")");
  }

  // The (sample, class) pairs present, in order, and the slot table (N, C) -> row or -1.
  ClassPrototypes result;
  std::vector<int64_t> host_counts = counts.to_vector<int64_t>(), proto_count;
  std::vector<int64_t> slot(host_counts.size(), -1);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < num_classes; ++c) {
      const int64_t count = host_counts[static_cast<size_t>(n * num_classes + c)];
      if (count == 0) continue;
      slot[static_cast<size_t>(n * num_classes + c)] = result.size();
      result.samples.push_back(n);
      result.classes.push_back(c);
      proto_count.push_back(count);
    }
  const int64_t P = result.size();
  Tensor samples_t = Tensor::from_vector(result.samples, {P}, device);
  Tensor classes_t = Tensor::from_vector(result.classes, {P}, device);
  Tensor count_t = Tensor::from_vector(proto_count, {P}, device);
  Tensor slot_t = Tensor::from_vector(slot, {N, num_classes}, device);

  Tensor prototypes = Tensor::empty({P, D}, DType::Float32, device);
  XMKD_DISPATCH(device, class_prototypes_forward, features.data<float>(), labels.data<int64_t>(),
                samples_t.data<int64_t>(), classes_t.data<int64_t>(), count_t.data<int64_t>(), P, D, hw,
                prototypes.data<float>());

  const Shape feature_shape = features.shape();
  Tensor saved_labels = labels.detach();
  record(op, prototypes, {features}, [=](const Tensor& g) {
    Tensor dfeatures = Tensor::empty(feature_shape, DType::Float32, g.device());
    XMKD_DISPATCH(g.device(), class_prototypes_backward, g.data<float>(), saved_labels.data<int64_t>(),
                  slot_t.data<int64_t>(), count_t.data<int64_t>(), N, D, hw, num_classes, ignore_index,
                  dfeatures.data<float>());
    return GradList{dfeatures};
  });
  result.prototypes = prototypes;
  return result;
}

namespace {

// The InfoNCE of prototype_info_nce, or an undefined tensor when a and b share no (sample, class).
Tensor info_nce_if_shared(const ClassPrototypes& a, const ClassPrototypes& b, float temperature) {
  const char* op = "prototype_info_nce";
  XMKD_CHECK(temperature > 0.0f, op, ": temperature must be positive, got ", temperature);
  check_dtype(op, "a.prototypes", a.prototypes, DType::Float32);
  check_dtype(op, "b.prototypes", b.prototypes, DType::Float32);
  check_ndim(op, "a.prototypes", a.prototypes, 2);
  check_ndim(op, "b.prototypes", b.prototypes, 2);
  check_same_device(op, a.prototypes, b.prototypes);
  XMKD_CHECK(a.prototypes.dim(1) == b.prototypes.dim(1), op, ": prototypes of different widths ",
             shape_str(a.prototypes.shape()), " and ", shape_str(b.prototypes.shape()));
  XMKD_CHECK(a.prototypes.dim(0) == a.size() && b.prototypes.dim(0) == b.size(), op,
             ": each prototype row needs its (sample, class) key; got ", a.size(), " keys for ",
             shape_str(a.prototypes.shape()), " and ", b.size(), " keys for ", shape_str(b.prototypes.shape()));
  const int64_t Pa = a.size(), Pb = b.size(), K = Pa + Pb, D = a.prototypes.dim(1);
  const Device device = a.prototypes.device();

  // Row i of [a; b] has its positive at the row of the same (sample, class) in the other set.
  std::map<std::pair<int64_t, int64_t>, int64_t> row_in_b;
  for (int64_t j = 0; j < Pb; ++j) row_in_b[{b.samples[j], b.classes[j]}] = Pa + j;
  std::vector<int64_t> positive(static_cast<size_t>(K), -100);   // -100: not an anchor (ignored by the CE)
  bool any = false;
  for (int64_t i = 0; i < Pa; ++i) {
    auto it = row_in_b.find({a.samples[i], a.classes[i]});
    if (it == row_in_b.end()) continue;
    positive[static_cast<size_t>(i)] = it->second;
    positive[static_cast<size_t>(it->second)] = i;
    any = true;
  }
  if (!any) return Tensor();

  // q: (K, D) unit rows; s = q qᵀ / τ (K, K) minus the self-similarities; CE per anchor row.
  Tensor q = l2_normalize(reshape(concat_channels({as_row(a.prototypes), as_row(b.prototypes)}), {K, D}));
  std::vector<float> diagonal(static_cast<size_t>(K * K), 0.0f);
  for (int64_t i = 0; i < K; ++i) diagonal[static_cast<size_t>(i * K + i)] = kExcluded;
  Tensor logits = add(scale(matmul(q, q, false, true), 1.0f / temperature),
                      Tensor::from_vector(diagonal, {K, K}, device));
  return cross_entropy(logits, Tensor::from_vector(positive, {K}, device));
}

}  // namespace

Tensor prototype_info_nce(const ClassPrototypes& a, const ClassPrototypes& b, float temperature) {
  Tensor loss = info_nce_if_shared(a, b, temperature);
  return loss.defined() ? loss : Tensor::zeros({}, DType::Float32, a.prototypes.device());
}

Tensor cross_modal_prototype_contrast(const std::vector<Tensor>& features, const std::vector<Tensor>& label_maps,
                                      int64_t num_classes, float temperature, int64_t ignore_index) {
  const char* op = "cross_modal_prototype_contrast";
  XMKD_CHECK(features.size() >= 2 && features.size() == label_maps.size(), op,
             ": needs one label map per feature map and at least 2 modalities, got ", features.size(),
             " feature maps and ", label_maps.size(), " label maps");
  std::vector<ClassPrototypes> prototypes;
  for (size_t m = 0; m < features.size(); ++m) {
    check_ndim(op, "features", features[m], 4);
    check_label_map(op, "label_maps", label_maps[m]);
    XMKD_CHECK(label_maps[m].dim(0) == features[m].dim(0), op, ": modality ", m, " has label maps ",
               shape_str(label_maps[m].shape()), " for features ", shape_str(features[m].shape()));
    Tensor labels = resize_labels_nearest(label_maps[m], features[m].dim(2), features[m].dim(3));
    prototypes.push_back(class_prototypes(features[m], labels, num_classes, ignore_index));
  }
  // Mean over the pairs that share at least one (sample, class); a pair sharing none has no anchor.
  Tensor total;
  int64_t pairs = 0;
  for (size_t i = 0; i < prototypes.size(); ++i)
    for (size_t j = i + 1; j < prototypes.size(); ++j) {
      Tensor pair = info_nce_if_shared(prototypes[i], prototypes[j], temperature);
      if (!pair.defined()) continue;
      total = total.defined() ? add(total, pair) : pair;
      ++pairs;
    }
  // Nothing shared anywhere: a zero that is still connected to the features (zero gradient), so
  // that a loss made only of this term can be backpropagated.
  if (pairs == 0) return scale(mean(features[0]), 0.0f);
  return pairs == 1 ? total : scale(total, 1.0f / static_cast<float>(pairs));
}

Tensor orthogonality_loss(const Tensor& a, const Tensor& b) { return mean(cosine_similarity(a, b)); }

}  // namespace xmkd::losses
