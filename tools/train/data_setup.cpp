#include "tools/train/data_setup.h"

#include <algorithm>
#include <cmath>

#include "data/datasets.h"
#include "data/depth_encoding.h"
#include "data/splits.h"
#include "data/synthetic.h"
#include "data/synthetic_scene.h"

namespace xmkd::train {
namespace {

using data::Dataset;
using DatasetPtr = std::shared_ptr<const Dataset>;

// A dataset restricted to some of its modalities, in a chosen order (data.modalities).
class ModalitySelection : public Dataset {
 public:
  ModalitySelection(DatasetPtr base, std::vector<int64_t> chosen) : base_(std::move(base)), chosen_(std::move(chosen)) {
    for (int64_t m : chosen_) specs_.push_back(base_->modalities()[static_cast<size_t>(m)]);
  }
  int64_t size() const override { return base_->size(); }
  data::Sample get(int64_t index) const override {
    data::Sample full = base_->get(index), out;
    out.label = full.label;
    for (int64_t m : chosen_) {
      out.images.push_back(full.images[static_cast<size_t>(m)]);
      if (!full.label_maps.empty()) out.label_maps.push_back(full.label_maps[static_cast<size_t>(m)]);
    }
    return out;
  }
  const std::vector<data::ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::Task task() const override { return base_->task(); }
  std::vector<int64_t> labels() const override { return base_->labels(); }
  std::string describe() const override {
    return str_cat(base_->describe(), " [modalities ", join_list(specs_, [](const auto& s) { return s.name; }), "]");
  }

 private:
  DatasetPtr base_;
  std::vector<int64_t> chosen_;
  std::vector<data::ModalitySpec> specs_;
};

data::SplitFractions read_fractions(const io::ConfigNode& node) {
  std::vector<double> f = node.get_floats("split_fractions", {0.7, 0.1, 0.2});
  if (f.size() != 3) node.fail("split_fractions", str_cat("expected [train, val, test], got ", f.size(), " numbers"));
  double sum = f[0] + f[1] + f[2];
  if (f[0] <= 0 || f[1] <= 0 || f[2] < 0 || std::abs(sum - 1.0) > 1e-6)
    node.fail("split_fractions", "expected three fractions that sum to 1, with train and val > 0");
  return {f[0], f[1], f[2]};
}

// Stratified by class when the dataset has labels, random otherwise.
data::Split split_dataset(const Dataset& dataset, uint64_t seed, const data::SplitFractions& fractions) {
  std::vector<int64_t> labels = dataset.labels();
  return labels.empty() ? data::random_split(dataset.size(), seed, fractions)
                        : data::stratified_split(labels, seed, fractions);
}

struct Splits {
  DatasetPtr train, val, test;
};

Splits three_way(DatasetPtr all, uint64_t seed, const data::SplitFractions& fractions) {
  data::Split s = split_dataset(*all, seed, fractions);
  return {std::make_shared<data::Subset>(all, s.train), std::make_shared<data::Subset>(all, s.valid),
          std::make_shared<data::Subset>(all, s.test)};
}

// The format gives train and test; validation is `val_fraction` of train.
Splits carve_validation(const io::ConfigNode& node, DatasetPtr train, DatasetPtr test, uint64_t seed) {
  double val_fraction = node.get_float("val_fraction", 0.1);
  if (!(val_fraction > 0.0 && val_fraction < 1.0)) node.fail("val_fraction", "expected a fraction in (0, 1)");
  data::Split s = split_dataset(*train, seed, {1.0 - val_fraction, val_fraction, 0.0});
  return {std::make_shared<data::Subset>(train, s.train), std::make_shared<data::Subset>(train, s.valid), test};
}

Splits open_format(const io::ConfigNode& node, std::vector<std::string>* class_names) {
  const std::string format = node.get_choice("format", "synthetic", data_formats());
  const uint64_t seed = static_cast<uint64_t>(node.get_int("split_seed", 0));
  if (format == "synthetic") {
    data::SyntheticOptions o;
    o.task = data::parse_task(node.get_choice("task", "classification", {"classification", "segmentation"}));
    o.size = node.get_int("size", 64);
    o.count = node.get_int("count", 2000);
    o.seed = static_cast<uint64_t>(node.get_int("seed", 0));
    o.rgb_samples = node.get_int("rgb_samples", o.rgb_samples);
    if (o.rgb_samples < 1 || o.rgb_samples > 8)
      node.fail("rgb_samples", str_cat("expected 1 to 8 RGB rays per pixel along each axis, got ", o.rgb_samples));
    if (o.size < 8) node.fail("size", str_cat("expected at least 8 pixels, got ", o.size));
    if (o.count < 1) node.fail("count", str_cat("expected a positive sample count, got ", o.count));
    const data::SplitFractions fractions = read_fractions(node);
    namespace syn = data::synthetic;
    if (o.task == data::Task::Classification) {
      for (int64_t c = 0; c < syn::kSceneClasses; ++c) class_names->push_back(syn::class_name(c));
    } else {
      for (int64_t c = 0; c < syn::kPixelClasses; ++c) class_names->push_back(syn::pixel_class_name(c));
    }
    return three_way(data::synthetic_dataset(o), seed, fractions);
  }
  if (format == "manifest") {
    DatasetPtr all = data::open_manifest(node.require_existing_path("path"));
    return three_way(all, seed, read_fractions(node));
  }
  if (format == "nyudv2") {
    const std::string root = node.require_existing_path("root");
    const int64_t labels = node.get_int("labels", 40);
    if (labels != 13 && labels != 40) node.fail("labels", str_cat("expected 13 or 40, got ", labels));
    return carve_validation(node, data::open_nyudv2(root, "train", static_cast<int>(labels)),
                            data::open_nyudv2(root, "test", static_cast<int>(labels)), seed);
  }
  if (format == "sunrgbd") {
    if (node.has("list")) return three_way(data::open_sunrgbd_list(node.require_existing_path("list")), seed, read_fractions(node));
    if (!node.has("train_list")) node.fail("train_list", "missing: give either 'list' (one list file, split 70/10/20) or 'train_list' and 'test_list'");
    DatasetPtr train = data::open_sunrgbd_list(node.require_existing_path("train_list"));
    DatasetPtr test = data::open_sunrgbd_list(node.require_existing_path("test_list"));
    return carve_validation(node, train, test, seed);
  }
  if (format == "discom_npy") {
    const std::string dir = node.require_existing_path("dir");
    const std::vector<std::string> prefixes = node.get_strings("prefixes", {});
    if (prefixes.empty()) node.fail("prefixes", "missing: one file prefix per modality, e.g. [\"RGB\", \"DEPTH\"]");
    return {data::open_discom_npy(dir, prefixes, "train"), data::open_discom_npy(dir, prefixes, "valid"),
            data::open_discom_npy(dir, prefixes, "test")};
  }
  // fashion_mnist
  const std::string dir = node.get_existing_path("dir", "/usr/share/datasets/fashion-mnist");
  return carve_validation(node, data::open_fashion_mnist(dir, "train"), data::open_fashion_mnist(dir, "test"), seed);
}

// data.modalities: indices into the dataset's modalities, in the order given.
std::vector<int64_t> chosen_modalities(const io::ConfigNode& node, const Dataset& dataset) {
  std::vector<std::string> all;
  for (const auto& spec : dataset.modalities()) all.push_back(spec.name);
  std::vector<std::string> names = node.get_strings("modalities", all);
  if (names.empty()) node.fail("modalities", "expected at least one modality");
  std::vector<int64_t> chosen;
  for (const std::string& name : names) {
    auto it = std::find(all.begin(), all.end(), name);
    if (it == all.end()) {
      node.fail("modalities", str_cat("the dataset has no modality '", name, "' (it has: ", join_list(all), ")"));
    }
    const int64_t index = it - all.begin();
    if (std::find(chosen.begin(), chosen.end(), index) != chosen.end())
      node.fail("modalities", str_cat("modality '", name, "' is listed twice"));
    chosen.push_back(index);
  }
  return chosen;
}

data::ChannelStats read_normalization(const io::ConfigNode& node, const std::vector<data::ModalitySpec>& specs) {
  io::ConfigNode given = node.child("normalize");
  data::ChannelStats stats;
  for (const auto& spec : specs) {
    io::ConfigNode entry = given.child(spec.name);
    std::vector<double> mean = entry.get_floats("mean", {}), std = entry.get_floats("std", {});
    const auto channels = static_cast<size_t>(spec.channels);
    if (mean.size() != channels) entry.fail("mean", str_cat("expected ", channels, " values (one per channel of '", spec.name, "')"));
    if (std.size() != channels) entry.fail("std", str_cat("expected ", channels, " values (one per channel of '", spec.name, "')"));
    for (double s : std)
      if (!(s > 0)) entry.fail("std", "every standard deviation must be positive");
    stats.mean.emplace_back(mean.begin(), mean.end());
    stats.std.emplace_back(std.begin(), std.end());
  }
  return stats;
}

// data.depth_encoding (metric | relief | normals) and its data.depth_options.
data::DepthEncoding read_depth_encoding(const io::ConfigNode& node) {
  const std::string name = node.get_choice("depth_encoding", "metric", data::depth_encoding_names());
  data::DepthEncoding e = data::default_depth_encoding(data::parse_depth_encoding(name));
  if (e.identity()) return e;
  io::ConfigNode options = node.child("depth_options");
  e.window = options.get_int("window", e.window);
  if (e.window < 1 || e.window % 2 == 0 || e.window > 63)
    options.fail("window", str_cat("expected an odd number of pixels in [1, 63], got ", e.window));
  if (e.kind == data::DepthEncodingKind::Relief) {
    e.clip = static_cast<float>(options.get_float("clip", e.clip));
    if (!(e.clip > 0.0f)) options.fail("clip", str_cat("expected a positive number of metres, got ", e.clip));
    e.fill_holes = options.get_choice("holes", "fill", {"fill", "mark"}) == "fill";
  } else {
    e.hfov_deg = static_cast<float>(options.get_float("hfov_deg", e.hfov_deg));
    if (!(e.hfov_deg > 0.0f && e.hfov_deg < 180.0f))
      options.fail("hfov_deg", str_cat("expected a field of view in (0, 180) degrees, got ", e.hfov_deg));
  }
  return e;
}

std::shared_ptr<data::Transform> normalization_transform(const data::ChannelStats& stats) {
  std::vector<std::shared_ptr<data::Transform>> steps;
  for (size_t m = 0; m < stats.mean.size(); ++m)
    steps.push_back(data::normalize(static_cast<int64_t>(m), stats.mean[m], stats.std[m]));
  return data::compose(std::move(steps));
}

// The steps every sample goes through last, after any augmentation: the depth encoding, then
// normalisation.
std::shared_ptr<data::Transform> input_transform(const DataSetup& setup) {
  std::vector<std::shared_ptr<data::Transform>> steps;
  if (setup.depth_modality >= 0) steps.push_back(data::depth_encoding(setup.depth_modality, setup.info.depth_encoding));
  steps.push_back(normalization_transform(setup.info.normalization));
  return data::compose(std::move(steps));
}

}  // namespace

std::vector<std::string> data_formats() {
  return {"synthetic", "manifest", "nyudv2", "sunrgbd", "discom_npy", "fashion_mnist"};
}

DataSetup setup_data(const io::ConfigNode& node, const std::optional<data::ChannelStats>& normalization) {
  DataSetup setup;
  Splits splits = open_format(node, &setup.info.class_names);
  std::vector<int64_t> chosen = chosen_modalities(node, *splits.train);
  bool all_in_order = chosen.size() == splits.train->modalities().size();
  for (size_t i = 0; i < chosen.size() && all_in_order; ++i) all_in_order = chosen[i] == static_cast<int64_t>(i);
  if (!all_in_order) {
    splits.train = std::make_shared<ModalitySelection>(splits.train, chosen);
    splits.val = std::make_shared<ModalitySelection>(splits.val, chosen);
    splits.test = std::make_shared<ModalitySelection>(splits.test, chosen);
  }
  setup.train = splits.train;
  setup.val = splits.val;
  setup.test = splits.test;
  setup.info.task = setup.train->task();
  setup.info.num_classes = setup.train->num_classes();
  setup.info.modalities = setup.train->modalities();
  if (static_cast<int64_t>(setup.info.class_names.size()) != setup.info.num_classes) setup.info.class_names.clear();

  setup.info.depth_encoding = read_depth_encoding(node);
  if (!setup.info.depth_encoding.identity()) {
    setup.depth_modality = setup.info.modality_index("depth");
    if (setup.depth_modality < 0) {
      const std::string known = join_list(setup.info.modalities, [](const auto& spec) { return spec.name; });
      node.fail("depth_encoding", str_cat("encoding '", data::depth_encoding_name(setup.info.depth_encoding.kind),
                                          "' needs a modality named 'depth' (the data has: ", known, ")"));
    }
    const auto m = static_cast<size_t>(setup.depth_modality);
    XMKD_CHECK(setup.info.modalities[m].channels == 1, node.key_path("depth_encoding"),
               ": the 'depth' modality has ", setup.info.modalities[m].channels, " channels; an encoding needs one");
    setup.info.modalities[m].channels = setup.info.depth_encoding.channels();
  }

  if (node.has("normalize")) {
    setup.info.normalization = read_normalization(node, setup.info.modalities);
  } else if (!normalization) {
    setup.info.normalization = data::compute_channel_stats(
        setup.depth_modality < 0 ? *setup.train
                                 : *data::depth_encoded(setup.train, setup.depth_modality, setup.info.depth_encoding));
    // A constant channel (std 0) is only centred.
    for (auto& per_modality : setup.info.normalization.std)
      for (float& s : per_modality)
        if (!(s > 0.0f)) s = 1.0f;
  }
  if (normalization) {
    XMKD_CHECK(normalization->mean.size() == setup.info.modalities.size(), "the run's normalisation has ",
               normalization->mean.size(), " modalities, the data section gives ", setup.info.modalities.size());
    setup.info.normalization = *normalization;
  }
  setup.eval_transform = input_transform(setup);
  setup.train_transform = setup.eval_transform;
  return setup;
}

void setup_augmentation(const io::ConfigNode& node, const models::MethodDataNeeds& needs, DataSetup& setup) {
  auto probability = [&](const char* key) {
    const double p = node.get_float(key, 0.0);
    if (!(p >= 0.0 && p <= 1.0)) node.fail(key, str_cat("expected a probability in [0, 1], got ", p));
    return static_cast<float>(p);
  };
  data::GeometricOptions geometry;
  geometry.hflip = probability("hflip");
  geometry.vflip = probability("vflip");
  geometry.rot90 = probability("rot90");
  geometry.scale_min = static_cast<float>(node.get_float("scale_min", 1.0));
  geometry.scale_max = static_cast<float>(node.get_float("scale_max", 1.0));
  if (!(geometry.scale_min > 0.0f && geometry.scale_min <= geometry.scale_max))
    node.fail("scale_min", str_cat("expected 0 < scale_min <= scale_max, got ", geometry.scale_min, " and ", geometry.scale_max));
  geometry.decoupled = node.get_bool("decoupled", needs.decoupled_augmentation);

  std::vector<std::shared_ptr<data::Transform>> steps;
  const bool moves = geometry.hflip > 0 || geometry.vflip > 0 || geometry.rot90 > 0 || geometry.scale_min != 1.0f ||
                     geometry.scale_max != 1.0f;
  if (moves) steps.push_back(data::geometric(geometry));

  io::ConfigNode jitter_node = node.child("color_jitter");
  data::ColorJitterOptions jitter;
  jitter.brightness = static_cast<float>(jitter_node.get_float("brightness", 0.0));
  jitter.contrast = static_cast<float>(jitter_node.get_float("contrast", 0.0));
  jitter.saturation = static_cast<float>(jitter_node.get_float("saturation", 0.0));
  if (jitter.brightness > 0 || jitter.contrast > 0 || jitter.saturation > 0) {
    const int64_t rgb = setup.info.modality_index("rgb");
    if (rgb < 0) jitter_node.fail("brightness", "colour jitter needs a modality named 'rgb'");
    steps.push_back(data::color_jitter(rgb, jitter));
  }
  io::ConfigNode noise_node = node.child("depth_noise");
  data::DepthNoiseOptions noise;
  noise.noise_std = static_cast<float>(noise_node.get_float("noise_std", 0.0));
  noise.drop_prob = static_cast<float>(noise_node.get_float("drop_prob", 0.0));
  const int64_t depth = setup.info.modality_index("depth");
  if ((noise.noise_std > 0 || noise.drop_prob > 0) && depth >= 0) steps.push_back(data::depth_noise(depth, noise));

  steps.push_back(input_transform(setup));
  setup.train_transform = data::compose(std::move(steps));
}

}  // namespace xmkd::train
