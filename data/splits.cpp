// Each class (or, for random_split, the whole index range) is shuffled with its own generator and
// cut in the given proportions, rounded per class; train always keeps at least one sample.
#include "data/splits.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/random.h"

namespace xmkd::data {
namespace {

void check_fractions(const char* fn, const SplitFractions& f) {
  auto valid = [](double x) { return std::isfinite(x) && x >= 0.0 && x <= 1.0; };
  XMKD_CHECK(valid(f.train) && valid(f.valid) && valid(f.test) && f.train > 0.0, fn, ": split fractions train=",
             f.train, " valid=", f.valid, " test=", f.test, " must each lie in [0, 1], with train > 0");
  XMKD_CHECK(std::abs(f.train + f.valid + f.test - 1.0) < 1e-6, fn, ": split fractions train=", f.train, " valid=",
             f.valid, " test=", f.test, " must sum to 1 (they sum to ", f.train + f.valid + f.test, ")");
}

void shuffle(std::vector<int64_t>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(gen.randint(static_cast<int64_t>(i)))]);
}

// Deals the shuffled `members` into the three splits: round(n valid) to valid, round(n test) to
// test, the rest (at least one) to train.
void deal(const std::vector<int64_t>& members, const SplitFractions& f, Split& out) {
  const int64_t n = static_cast<int64_t>(members.size());
  int64_t n_valid = std::llround(static_cast<double>(n) * f.valid);
  int64_t n_test = std::llround(static_cast<double>(n) * f.test);
  while (n_valid + n_test > n - 1) {   // train keeps one: take it back from the larger of the others
    if (n_valid > n_test) --n_valid;
    else --n_test;
  }
  const int64_t n_train = n - n_valid - n_test;
  out.train.insert(out.train.end(), members.begin(), members.begin() + n_train);
  out.valid.insert(out.valid.end(), members.begin() + n_train, members.begin() + n_train + n_valid);
  out.test.insert(out.test.end(), members.begin() + n_train + n_valid, members.end());
}

// Sorts each split; a split with a non-zero fraction that received nothing is an error.
void finish(const char* fn, const SplitFractions& f, int64_t count, const std::string& population, Split& out) {
  const std::pair<const char*, std::pair<std::vector<int64_t>*, double>> splits[] = {
      {"train", {&out.train, f.train}}, {"valid", {&out.valid, f.valid}}, {"test", {&out.test, f.test}}};
  for (auto& [name, entry] : splits) {
    auto& [indices, fraction] = entry;
    std::sort(indices->begin(), indices->end());
    XMKD_CHECK(!(indices->empty() && fraction > 0.0), fn, ": the ", name, " split is empty (", count, " samples",
               population, ", ", name, " fraction ", fraction, "); use more samples or a larger ", name, " fraction");
  }
}

}  // namespace

Split stratified_split(const std::vector<int64_t>& labels, uint64_t seed, const SplitFractions& fractions) {
  check_fractions("stratified_split", fractions);
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) {
    XMKD_CHECK(labels[i] >= 0, "stratified_split: sample ", i, " has no class label (", labels[i],
               "); a dataset without labels needs random_split");
    by_class[labels[i]].push_back(static_cast<int64_t>(i));
  }
  Split out;
  for (auto& [label, members] : by_class) {
    // One generator per class: a class's split does not change when other classes are added.
    Generator gen(seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(label) + 1)));
    shuffle(members, gen);
    deal(members, fractions, out);
  }
  finish("stratified_split", fractions, static_cast<int64_t>(labels.size()),
         str_cat(" in ", by_class.size(), " classes"), out);
  return out;
}

Split random_split(int64_t count, uint64_t seed, const SplitFractions& fractions) {
  check_fractions("random_split", fractions);
  XMKD_CHECK(count >= 0, "random_split: count must be non-negative, got ", count);
  std::vector<int64_t> members(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) members[static_cast<size_t>(i)] = i;
  Generator gen(seed);
  shuffle(members, gen);
  Split out;
  if (count > 0) deal(members, fractions, out);
  finish("random_split", fractions, count, "", out);
  return out;
}

}  // namespace xmkd::data
