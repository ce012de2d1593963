// CroDiNo-KD's alignment of modality-invariant features (docs/methods.md, CroDiNo-KD): class prototypes pooled
// from a feature map under a label map, and an InfoNCE between the prototypes of two modalities.
// No pixel correspondence is assumed: each modality's prototypes come from its own label map, so
// the term survives decoupled augmentation; only the (sample, class) keys are matched.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace xmkd::losses {

// The prototypes of the (sample, class) pairs present in a batch, in order of sample, then class.
struct ClassPrototypes {
  Tensor prototypes;               // (P, D) float32, differentiable w.r.t. the features
  std::vector<int64_t> samples;    // (P) the sample n of each row
  std::vector<int64_t> classes;    // (P) the class c of each row
  int64_t size() const { return static_cast<int64_t>(samples.size()); }
};

// Nearest-neighbour resize of label maps, as PyTorch's F.interpolate(mode="nearest"):
// labels (N, H, W) int64 -> (N, h, w), source index min(floor(dst · in/out), in - 1). Not differentiable.
Tensor resize_labels_nearest(const Tensor& labels, int64_t h, int64_t w);

// Masked average pooling by class (an op with its own backward; kernels/defs/contrastive.def).
// features (N, D, h, w) float32, labels (N, h, w) int64 at the features' resolution.
// For each class c in [0, num_classes) present in sample n (at least one position labelled c):
//   prototype(n, c) = Σ_{p: label[n,p] = c} features[n, :, p] / count(n, c)
// Positions labelled ignore_index belong to no class; any other label outside [0, num_classes) is
// an error naming it. Backward: dfeatures[n, :, p] = g(n, label[n,p]) / count(n, label[n,p]).
ClassPrototypes class_prototypes(const Tensor& features, const Tensor& labels, int64_t num_classes,
                                 int64_t ignore_index = kIgnoreLabel);

// Symmetric InfoNCE between the prototypes of two modalities a and b (temperature τ):
// q = L2-normalised rows of [a; b] (K = Pa + Pb rows), s = q qᵀ / τ with the diagonal removed.
// Every row whose (sample, class) also has a row in the other modality is an anchor; its positive
// is that row, its negatives every other row of [a; b] (both modalities). The loss is the mean
// over anchors of CE(s[anchor, :], positive), i.e. both directions (a→b and b→a) at once.
// A zero scalar when no (sample, class) is shared.
Tensor prototype_info_nce(const ClassPrototypes& a, const ClassPrototypes& b, float temperature);

// The contrastive term over M >= 2 modalities: features[m] (N, D, h, w), label_maps[m] (N, H, W)
// resized to (h, w) by nearest neighbour; the mean over the unordered pairs (a < b) of
// prototype_info_nce(prototypes_a, prototypes_b).
Tensor cross_modal_prototype_contrast(const std::vector<Tensor>& features, const std::vector<Tensor>& label_maps,
                                      int64_t num_classes, float temperature, int64_t ignore_index = kIgnoreLabel);

// L_⊥ of one modality: the mean over positions of cos(a, b) between channel vectors.
// a, b: (N, D, h, w) (or (N, D)); post-ReLU features make this >= 0, 0 when orthogonal.
Tensor orthogonality_loss(const Tensor& a, const Tensor& b);

}  // namespace xmkd::losses
