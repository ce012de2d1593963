// Stratified train/validation/test splits: every class is divided in the given proportions
// (70/10/20 by default), deterministically from a seed.
#pragma once
#include <cstdint>
#include <vector>

namespace xmkd::data {

struct SplitFractions {
  double train = 0.7, valid = 0.1, test = 0.2;
};

struct Split {
  std::vector<int64_t> train, valid, test;   // dataset indices, each sorted ascending
};

// labels[i] = class of sample i. Classes with too few samples still put at least one sample in
// train; an empty split (e.g. no sample reaches valid) is an error naming the split.
Split stratified_split(const std::vector<int64_t>& labels, uint64_t seed, const SplitFractions& fractions = {});
// Segmentation (no class label): a seeded random split with the same fractions.
Split random_split(int64_t count, uint64_t seed, const SplitFractions& fractions = {});

}  // namespace xmkd::data
