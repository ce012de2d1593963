// The DisCoM-KD npy layout: <dir>/<PREFIX>_data_normalized.npy (N, C, H, W) float32 per modality,
// labels.npy (N) integer classes, {train,valid,test}_idx.npy selecting the samples of each split.
// The arrays are loaded once, whole (this layout is meant for data sets that fit in memory), and
// shared by every copy of the dataset; get() copies one sample out.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "data/datasets.h"
#include "engine/io/npy.h"

namespace xmkd::data {
namespace {

std::string data_file(const std::string& dir, const std::string& prefix) {
  return (std::filesystem::path(dir) / (prefix + "_data_normalized.npy")).string();
}
std::string dir_file(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// A 1-D integer array (an (N, 1) column too) as int64; float arrays count when every value is a
// whole number (labels saved as floats are common).
std::vector<int64_t> integer_vector(const Tensor& t, const std::string& path, const char* what) {
  XMKD_CHECK(t.ndim() == 1 || (t.ndim() == 2 && t.dim(1) == 1), path, ": ", what, " must be a 1-D array, got shape ",
             shape_str(t.shape()));
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (t.dtype()) {
      case DType::Int64: out[i] = t.data<int64_t>()[i]; break;
      case DType::Int32: out[i] = t.data<int32_t>()[i]; break;
      case DType::Float32: {
        const float v = t.data<float>()[i];
        XMKD_CHECK(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15f, path, ": ", what, " must be integers, ",
                   "entry ", i, " is ", v);
        out[i] = static_cast<int64_t>(v);
        break;
      }
    }
  }
  return out;
}

class DiscomNpy : public Dataset {
 public:
  DiscomNpy(std::string dir, std::string split, std::vector<ModalitySpec> specs, std::vector<Tensor> arrays,
            std::vector<int64_t> labels, std::vector<int64_t> indices, int64_t num_classes)
      : dir_(std::move(dir)), split_(std::move(split)), specs_(std::move(specs)), arrays_(std::move(arrays)),
        all_labels_(std::move(labels)), indices_(std::move(indices)), num_classes_(num_classes) {}

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return num_classes_; }
  Task task() const override { return Task::Classification; }
  std::vector<int64_t> labels() const override {
    std::vector<int64_t> out;
    out.reserve(indices_.size());
    for (int64_t i : indices_) out.push_back(all_labels_[static_cast<size_t>(i)]);
    return out;
  }
  std::string describe() const override {
    std::string mods;
    for (size_t m = 0; m < specs_.size(); ++m) mods += str_cat(m ? ", " : "", specs_[m].name, " ", shape_str(arrays_[m].shape()));
    return str_cat("DisCoM-KD npy ", dir_, " (", split_, "): ", indices_.size(), " samples, ", num_classes_,
                   " classes, modalities ", mods);
  }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < size(), "DisCoM-KD npy ", dir_, " (", split_, "): sample index ", index,
               " is outside [0, ", size(), ")");
    const int64_t row = indices_[static_cast<size_t>(index)];
    Sample s;
    s.label = all_labels_[static_cast<size_t>(row)];
    for (const Tensor& a : arrays_) {
      Tensor image = Tensor::empty({a.dim(1), a.dim(2), a.dim(3)});
      const int64_t n = image.numel();
      std::memcpy(image.data<float>(), a.data<float>() + row * n, static_cast<size_t>(n) * sizeof(float));
      s.images.push_back(image);
    }
    return s;
  }

 private:
  std::string dir_, split_;
  std::vector<ModalitySpec> specs_;
  std::vector<Tensor> arrays_;        // per modality (N, C, H, W) float32
  std::vector<int64_t> all_labels_;   // (N)
  std::vector<int64_t> indices_;      // rows of this split
  int64_t num_classes_;
};

}  // namespace

std::shared_ptr<Dataset> open_discom_npy(const std::string& dir, const std::vector<std::string>& prefixes,
                                         const std::string& split) {
  XMKD_CHECK(!prefixes.empty(), "open_discom_npy(", dir, "): no modality prefixes given (e.g. RGB, DEPTH)");
  XMKD_CHECK(split == "train" || split == "valid" || split == "test" || split == "all", "open_discom_npy(", dir,
             "): split must be \"train\", \"valid\", \"test\" or \"all\", got \"", split, "\"");
  std::vector<ModalitySpec> specs;
  std::vector<Tensor> arrays;
  for (const std::string& prefix : prefixes) {
    const std::string path = data_file(dir, prefix);
    Tensor a = io::load_npy(path);
    XMKD_CHECK(a.dtype() == DType::Float32, path, ": expected float32 data (descr '<f4' or '<f8'), got ",
               dtype_name(a.dtype()));
    XMKD_CHECK(a.ndim() == 4, path, ": expected an (N, C, H, W) array, got shape ", shape_str(a.shape()));
    XMKD_CHECK(a.dim(0) >= 1 && a.dim(1) >= 1 && a.dim(2) >= 1 && a.dim(3) >= 1, path, ": empty array of shape ",
               shape_str(a.shape()));
    if (!arrays.empty())
      XMKD_CHECK(a.dim(0) == arrays[0].dim(0), path, ": holds ", a.dim(0), " samples but ", data_file(dir, prefixes[0]),
                 " holds ", arrays[0].dim(0));
    for (auto& s : specs)
      XMKD_CHECK(s.name != prefix, "open_discom_npy(", dir, "): prefix '", prefix, "' is given twice");
    specs.push_back({prefix, a.dim(1)});
    arrays.push_back(a);
  }
  const int64_t n = arrays[0].dim(0);

  const std::string labels_path = dir_file(dir, "labels.npy");
  const std::vector<int64_t> labels = integer_vector(io::load_npy(labels_path), labels_path, "labels");
  XMKD_CHECK(static_cast<int64_t>(labels.size()) == n, labels_path, ": holds ", labels.size(), " labels but ",
             data_file(dir, prefixes[0]), " holds ", n, " samples");
  int64_t max_label = -1;
  for (size_t i = 0; i < labels.size(); ++i) {
    XMKD_CHECK(labels[i] >= 0 && labels[i] < INT32_MAX, labels_path, ": label ", i, " is ", labels[i],
               "; expected a class index >= 0");
    max_label = std::max(max_label, labels[i]);
  }

  std::vector<int64_t> indices;
  if (split == "all") {
    for (int64_t i = 0; i < n; ++i) indices.push_back(i);
  } else {
    const std::string idx_path = dir_file(dir, split + "_idx.npy");
    indices = integer_vector(io::load_npy(idx_path), idx_path, "split indices");
    XMKD_CHECK(!indices.empty(), idx_path, ": the ", split, " split selects no samples");
    for (size_t k = 0; k < indices.size(); ++k)
      XMKD_CHECK(indices[k] >= 0 && indices[k] < n, idx_path, ": index ", indices[k], " (entry ", k, ") is outside [0, ",
                 n, ")");
  }
  return std::make_shared<DiscomNpy>(dir, split, std::move(specs), std::move(arrays), labels, std::move(indices),
                                     max_label + 1);
}

void write_discom_npy(const Dataset& dataset, const std::string& dir, const std::vector<std::string>& prefixes,
                      const std::vector<int64_t>& train, const std::vector<int64_t>& valid, const std::vector<int64_t>& test) {
  const auto& specs = dataset.modalities();
  XMKD_CHECK(prefixes.size() == specs.size(), "write_discom_npy(", dir, "): ", prefixes.size(), " prefixes for ",
             specs.size(), " modalities of ", dataset.describe());
  XMKD_CHECK(dataset.task() == Task::Classification, "write_discom_npy(", dir, "): the layout holds class labels; ",
             dataset.describe(), " is a ", task_name(dataset.task()), " dataset");
  const int64_t n = dataset.size();
  XMKD_CHECK(n >= 1, "write_discom_npy(", dir, "): the dataset is empty");
  const std::pair<const char*, const std::vector<int64_t>*> splits[] = {{"train", &train}, {"valid", &valid}, {"test", &test}};
  for (auto& [name, idx] : splits)
    for (int64_t i : *idx)
      XMKD_CHECK(i >= 0 && i < n, "write_discom_npy(", dir, "): ", name, " index ", i, " is outside [0, ", n, ")");

  std::vector<Tensor> arrays;
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const Sample s = dataset.get(i);
    XMKD_CHECK(s.label >= 0, "write_discom_npy(", dir, "): sample ", i, " of ", dataset.describe(), " has no class label");
    labels[static_cast<size_t>(i)] = s.label;
    for (size_t m = 0; m < specs.size(); ++m) {
      const Tensor& image = s.images[m];
      XMKD_CHECK(image.ndim() == 3, "write_discom_npy(", dir, "): sample ", i, ", modality '", specs[m].name,
                 "' is not a (C, H, W) image: ", image.str());
      if (i == 0) arrays.push_back(Tensor::empty({n, image.dim(0), image.dim(1), image.dim(2)}));
      const Shape& want = arrays[m].shape();
      XMKD_CHECK(image.dim(0) == want[1] && image.dim(1) == want[2] && image.dim(2) == want[3], "write_discom_npy(", dir,
                 "): sample ", i, ", modality '", specs[m].name, "' is ", shape_str(image.shape()), " but sample 0 is ",
                 shape_str({want[1], want[2], want[3]}), "; the layout needs one size per modality");
      const Tensor host = image.to(Device::CPU);
      std::memcpy(arrays[m].data<float>() + i * host.numel(), host.data<float>(), host.nbytes());
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  XMKD_CHECK(!ec, "write_discom_npy: cannot create directory '", dir, "': ", ec.message());
  for (size_t m = 0; m < specs.size(); ++m) io::save_npy(data_file(dir, prefixes[m]), arrays[m]);
  io::save_npy(dir_file(dir, "labels.npy"), Tensor::from_vector(labels, {n}));
  for (auto& [name, idx] : splits)
    io::save_npy(dir_file(dir, std::string(name) + "_idx.npy"),
                 Tensor::from_vector(*idx, {static_cast<int64_t>(idx->size())}));
}

}  // namespace xmkd::data
