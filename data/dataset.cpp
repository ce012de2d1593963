#include "data/dataset.h"

namespace xmkd::data {

const char* task_name(Task task) {
  switch (task) {
    case Task::Classification: return "classification";
    case Task::Segmentation: return "segmentation";
  }
  return "?";
}

Task parse_task(const std::string& name) {
  if (name == "classification") return Task::Classification;
  if (name == "segmentation") return Task::Segmentation;
  fail("unknown task '", name, "': expected \"classification\" or \"segmentation\"");
}

int64_t Dataset::modality_index(const std::string& name) const {
  const auto& specs = modalities();
  std::string known;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return static_cast<int64_t>(i);
    known += (i ? ", " : "") + specs[i].name;
  }
  fail("no modality '", name, "' in ", describe(), "; its modalities are: ", known);
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  XMKD_CHECK(base_, "Subset: the base dataset is null");
  const int64_t n = base_->size();
  for (size_t k = 0; k < indices_.size(); ++k)
    XMKD_CHECK(indices_[k] >= 0 && indices_[k] < n, "Subset: index ", indices_[k], " (position ", k,
               ") is outside [0, ", n, ") of ", base_->describe());
}

Sample Subset::get(int64_t index) const {
  XMKD_CHECK(index >= 0 && index < size(), "Subset::get: index ", index, " is outside [0, ", size(), ") of ", describe());
  return base_->get(indices_[static_cast<size_t>(index)]);
}

std::vector<int64_t> Subset::labels() const {
  const std::vector<int64_t> all = base_->labels();
  if (all.empty()) return {};
  std::vector<int64_t> out;
  out.reserve(indices_.size());
  for (int64_t i : indices_) out.push_back(all[static_cast<size_t>(i)]);
  return out;
}

std::string Subset::describe() const {
  return str_cat("subset of ", indices_.size(), " samples of ", base_->describe());
}

}  // namespace xmkd::data
