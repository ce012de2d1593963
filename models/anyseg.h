// AnySeg (docs/methods.md, AnySeg): any-modal segmentation in two stages.
//
// The network, shared by both stages: one stem per modality (ResNet-18's conv1 7x7/2 from C_m
// channels to 64, bn1, ReLU, max-pool 3x3/2), ONE ResNet-18 trunk (layer1..layer4) that encodes
// every present modality separately, per-stage features C2..C5 averaged over the present
// modalities, one SegDecoder on the averaged C5 with the averaged C4, C3, C2 as skips:
//
//   x_m ─stem_m→ trunk → {C2..C5}_m ─mean over present m→ {C2..C5} → decoder → logits (N, classes, H, W)
//
//   anyseg_teacher  stage 1: every modality present, CE.
//   anyseg_student  stage 2: a frozen teacher run; each batch keeps a random non-empty modality
//                   subset; CE + distillation (losses/anyseg.h).
// Outputs (both stages): one per non-empty subset of the method's modalities, ordered by size and
// then in dataset order ("rgb", "depth", "rgb+depth"), each scored against label map 0.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "losses/anyseg.h"
#include "models/method.h"
#include "models/segmenter.h"

namespace xmkd::models {

// conv1 (C_m -> 64, 7x7/2, pad 3, no bias) → bn1 → ReLU → max-pool 3x3/2 pad 1: (N,C_m,H,W) -> (N,64,H/4,W/4).
class ModalityStem : public Module {
 public:
  explicit ModalityStem(int64_t in_channels);
  Tensor forward(const Tensor& x) override;
  GraphValue describe(GraphBuilder& g, GraphValue x) const;
  int64_t in_channels() const { return in_channels_; }

 private:
  int64_t in_channels_;
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
};

// ResNet-18's layer1..layer4 (torchvision names): stem output -> {C2, C3, C4, C5} at strides 4..32.
class SharedTrunk : public Module {
 public:
  SharedTrunk();
  std::vector<Tensor> features(const Tensor& stem_output);
  std::vector<GraphValue> describe_features(GraphBuilder& g, GraphValue stem_output) const;   // {C2, .., C5}

 private:
  std::shared_ptr<nn::Sequential> layer1_, layer2_, layer3_, layer4_;
};

constexpr size_t kAnySegStages = 4;   // C2..C5

struct AnySegForward {
  std::vector<int64_t> subset;       // dataset modality indices, in the order given
  losses::StageFeatures features;    // [stage][j]: C2..C5 of modality subset[j] encoded alone
  std::vector<Tensor> fused;         // [stage]: mean over j of features[stage][j]
  Tensor logits;                     // (N, classes, H, W)
};

class AnySegNetwork : public Module {
 public:
  // modalities: the dataset indices this network reads (stems "stems.0", "stems.1", ... in this
  // order); channels: C_m of each.
  AnySegNetwork(std::vector<int64_t> modalities, const std::vector<int64_t>& channels, int64_t num_classes);

  // inputs: Batch::inputs (every dataset modality, dataset order); subset: non-empty, distinct
  // dataset indices among modalities().
  AnySegForward forward(const std::vector<Tensor>& inputs, const std::vector<int64_t>& subset);
  // C2..C5 of one modality encoded alone. x: (N, C_m, H, W).
  std::vector<Tensor> encode(const Tensor& x, int64_t modality);
  // Averages each stage over the given encodings; with one encoding it is that encoding itself.
  static std::vector<Tensor> fuse(const losses::StageFeatures& features);
  Tensor decode(const std::vector<Tensor>& fused, int64_t out_h, int64_t out_w);

  const std::vector<int64_t>& modalities() const { return modalities_; }
  int64_t num_classes() const { return num_classes_; }
  std::shared_ptr<ModalityStem> stem(int64_t modality) const { return stems_.at(position(modality)); }
  std::shared_ptr<SharedTrunk> trunk() const { return trunk_; }
  std::shared_ptr<SegDecoder> decoder() const { return decoder_; }

 private:
  size_t position(int64_t modality) const;   // of a dataset index in modalities(); error if absent

  std::vector<int64_t> modalities_;
  int64_t num_classes_;
  std::vector<std::shared_ptr<ModalityStem>> stems_;
  std::shared_ptr<SharedTrunk> trunk_;
  std::shared_ptr<SegDecoder> decoder_;
};

// The deployable single-modality network: stem of one modality + shared trunk + decoder. Built
// from a method it shares the method's parameters; make_anyseg_branch builds an untrained one.
// State names: stem.conv1.weight, trunk.layer1.0.conv1.weight, decoder.classifier.weight, ...
class AnySegBranch : public Deployable {
 public:
  AnySegBranch(std::shared_ptr<ModalityStem> stem, std::shared_ptr<SharedTrunk> trunk,
               std::shared_ptr<SegDecoder> decoder, int64_t num_classes);
  Tensor forward(const Tensor& x) override;   // (N, C_m, H, W) -> (N, classes, H, W)
  DeploySpec spec() const override;           // "anyseg_branch" {in_channels, num_classes}
  GraphValue describe(GraphBuilder& g, GraphValue x) override;   // forward() as a graph

 private:
  std::shared_ptr<ModalityStem> stem_;
  std::shared_ptr<SharedTrunk> trunk_;
  std::shared_ptr<SegDecoder> decoder_;
  int64_t num_classes_;
};
std::shared_ptr<Deployable> make_anyseg_branch(const DeploySpec& spec);

// Every non-empty subset of {0, .., count-1} as sorted positions, by size, then lexicographic.
std::vector<std::vector<int64_t>> nonempty_subsets(int64_t count);
// Any-modal dropout: k uniform in [1, count], then a uniform k-subset (a partial Fisher-Yates
// shuffle), returned sorted. Draws 1 + k numbers from gen. Never empty.
std::vector<int64_t> draw_modality_subset(int64_t count, Generator& gen);

// The "modalities" key of a method section: at least two distinct dataset modalities (default:
// all of them), returned as dataset indices in dataset order.
std::vector<int64_t> parse_anyseg_modalities(const io::ConfigNode& config, const MethodContext& context);
// "rgb+depth": the names of the given dataset modalities joined with "+".
std::string anyseg_subset_name(const MethodContext& context, const std::vector<int64_t>& subset);

// What the two stages share: the network, the outputs, predict, checkpoints and deployables.
class AnySegMethod : public Method {
 public:
  // modalities: the dataset indices used (>= 2, dataset order), as parse_anyseg_modalities gives.
  AnySegMethod(const MethodContext& context, std::vector<int64_t> modalities);

  std::vector<MethodOutput> outputs() const override;
  std::vector<Tensor> predict(const data::Batch& batch) override;
  Module& checkpoint_module(const std::string& output) override;
  std::shared_ptr<Deployable> deployable(const std::string& output) override;

  AnySegNetwork& network() { return *network_; }
  const std::vector<int64_t>& modalities() const { return network_->modalities(); }
  std::string subset_name(const std::vector<int64_t>& subset) const;   // "rgb+depth"
  const MethodContext& context() const { return context_; }

 protected:
  const MethodOutput& find_output(const std::string& output) const;   // error lists the outputs
  const Tensor& label_map(const data::Batch& batch) const;             // label map 0, checked

  MethodContext context_;
  std::shared_ptr<AnySegNetwork> network_;
  std::vector<MethodOutput> outputs_;
};

class AnySegTeacher : public AnySegMethod {
 public:
  AnySegTeacher(const MethodContext& context, std::vector<int64_t> modalities);
  std::string name() const override { return "anyseg_teacher"; }
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;   // parts: "ce"
};

class AnySegStudent : public AnySegMethod {
 public:
  // teacher: a frozen AnySeg method over the same modalities (make_anyseg_student loads it).
  AnySegStudent(const MethodContext& context, std::vector<int64_t> modalities, std::shared_ptr<AnySegMethod> teacher,
                const losses::AnySegLossWeights& weights);
  std::string name() const override { return "anyseg_student"; }
  // Draws the kept subset from progress.gen (required). parts: "ce", "umd", "cmd", "mad".
  LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) override;

  AnySegMethod& teacher() { return *teacher_; }
  const losses::AnySegLossWeights& weights() const { return weights_; }
  const std::vector<int64_t>& last_kept() const { return last_kept_; }   // dataset indices of the last batch

 private:
  std::shared_ptr<AnySegMethod> teacher_;   // frozen, not a registered child: never saved or trained
  losses::AnySegLossWeights weights_;
  std::vector<int64_t> last_kept_;
};

}  // namespace xmkd::models
