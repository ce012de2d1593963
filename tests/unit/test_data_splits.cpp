// Stratified and random splits: per-class proportions, disjointness, coverage, order,
// determinism, small classes, and the errors (empty split, bad fractions, missing labels).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "data/splits.h"
#include "tests/unit/data_test_files.h"

namespace xmkd {
namespace {

using data::Split;
using data::SplitFractions;

// Labels with class c repeated sizes[c] times, interleaved (0, 1, 2, 0, 1, 2, ...) until a class runs out.
std::vector<int64_t> labels_with_sizes(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> left = sizes, labels;
  for (bool any = true; any;) {
    any = false;
    for (size_t c = 0; c < left.size(); ++c)
      if (left[c] > 0) {
        labels.push_back(static_cast<int64_t>(c));
        --left[c];
        any = true;
      }
  }
  return labels;
}

// Every index in [0, n) appears in exactly one split, and each split is sorted ascending.
void expect_partition(const Split& s, int64_t n) {
  for (const auto* v : {&s.train, &s.valid, &s.test}) EXPECT_TRUE(std::is_sorted(v->begin(), v->end()));
  std::vector<int64_t> all;
  for (const auto* v : {&s.train, &s.valid, &s.test}) all.insert(all.end(), v->begin(), v->end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(static_cast<int64_t>(all.size()), n) << "a sample is missing or appears twice";
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(all[static_cast<size_t>(i)], i);
}

std::map<int64_t, int64_t> class_counts(const std::vector<int64_t>& indices, const std::vector<int64_t>& labels) {
  std::map<int64_t, int64_t> counts;
  for (int64_t i : indices) ++counts[labels[static_cast<size_t>(i)]];
  return counts;
}

TEST(DataSplits, StratifiedKeepsProportionsPerClass) {
  const std::vector<int64_t> sizes = {100, 50, 20, 7};
  const std::vector<int64_t> labels = labels_with_sizes(sizes);
  const Split s = data::stratified_split(labels, 42);
  expect_partition(s, static_cast<int64_t>(labels.size()));
  const auto train = class_counts(s.train, labels), valid = class_counts(s.valid, labels), test = class_counts(s.test, labels);
  for (int64_t c = 0; c < 4; ++c) {
    const int64_t n = sizes[static_cast<size_t>(c)];
    // Per class: round(0.1 n) to valid, round(0.2 n) to test, the rest to train.
    EXPECT_EQ(valid.count(c) ? valid.at(c) : 0, std::llround(0.1 * n)) << "class " << c;
    EXPECT_EQ(test.count(c) ? test.at(c) : 0, std::llround(0.2 * n)) << "class " << c;
    EXPECT_EQ(train.at(c), n - std::llround(0.1 * n) - std::llround(0.2 * n)) << "class " << c;
  }
}

TEST(DataSplits, CustomFractions) {
  const std::vector<int64_t> labels = labels_with_sizes({40, 40});
  const Split s = data::stratified_split(labels, 1, {0.5, 0.25, 0.25});
  expect_partition(s, 80);
  EXPECT_EQ(s.train.size(), 40u);
  EXPECT_EQ(s.valid.size(), 20u);
  EXPECT_EQ(s.test.size(), 20u);
  EXPECT_EQ(class_counts(s.valid, labels).at(1), 10);
  // A zero fraction is an intentionally empty split, not an error.
  const Split no_valid = data::stratified_split(labels, 1, {0.8, 0.0, 0.2});
  EXPECT_TRUE(no_valid.valid.empty());
  EXPECT_EQ(no_valid.test.size(), 16u);
}

TEST(DataSplits, DeterministicFromTheSeed) {
  const std::vector<int64_t> labels = labels_with_sizes({30, 30, 30});
  const Split a = data::stratified_split(labels, 7), b = data::stratified_split(labels, 7), c = data::stratified_split(labels, 8);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test) << "another seed should give another split";
  const Split r1 = data::random_split(50, 3), r2 = data::random_split(50, 3), r3 = data::random_split(50, 4);
  EXPECT_EQ(r1.test, r2.test);
  EXPECT_EQ(r1.valid, r2.valid);
  EXPECT_NE(r1.test, r3.test);
}

// Each class is shuffled with its own generator: adding a class leaves the others' splits alone.
TEST(DataSplits, AddingAClassKeepsTheOtherClassesSplit) {
  std::vector<int64_t> labels = labels_with_sizes({20, 20});
  const Split before = data::stratified_split(labels, 5);
  for (int i = 0; i < 15; ++i) labels.push_back(2);
  const Split after = data::stratified_split(labels, 5);
  auto only_40 = [](const std::vector<int64_t>& v) {
    std::vector<int64_t> out;
    for (int64_t i : v)
      if (i < 40) out.push_back(i);
    return out;
  };
  EXPECT_EQ(only_40(after.train), before.train);
  EXPECT_EQ(only_40(after.valid), before.valid);
  EXPECT_EQ(only_40(after.test), before.test);
}

TEST(DataSplits, TinyClassesStayInTrain) {
  std::vector<int64_t> labels = labels_with_sizes({30});
  labels.push_back(1);   // one sample of class 1
  labels.push_back(2);   // two of class 2
  labels.push_back(2);
  const Split s = data::stratified_split(labels, 0);
  expect_partition(s, 33);
  const auto train = class_counts(s.train, labels);
  EXPECT_EQ(train.at(1), 1);
  EXPECT_EQ(train.at(2), 2);   // round(0.2) = round(0.4) = 0 for valid and test
}

TEST(DataSplits, RandomSplitProportions) {
  const Split s = data::random_split(100, 9);
  expect_partition(s, 100);
  EXPECT_EQ(s.train.size(), 70u);
  EXPECT_EQ(s.valid.size(), 10u);
  EXPECT_EQ(s.test.size(), 20u);
  // Shuffled, not the first 70 indices.
  EXPECT_NE(s.train.back(), 69);
}

TEST(DataSplits, EmptySplitIsAnErrorNamingIt) {
  // Three samples of one class: round(0.3) = 0 reach valid.
  testing::expect_error_with([] { data::stratified_split({0, 0, 0}, 1); }, {"stratified_split", "valid split is empty"});
  testing::expect_error_with([] { data::random_split(2, 1); }, {"random_split", "split is empty"});
  testing::expect_error_with([] { data::random_split(0, 1); }, {"random_split", "train split is empty"});
  testing::expect_error_with([] { data::stratified_split({}, 1); }, {"stratified_split", "train split is empty"});
}

TEST(DataSplits, BadArguments) {
  testing::expect_error_with([] { data::stratified_split({0, 1, -1, 0}, 1); }, {"stratified_split", "sample 2", "random_split"});
  testing::expect_error_with([] { data::random_split(10, 1, {0.7, 0.2, 0.2}); }, {"random_split", "sum to 1"});
  testing::expect_error_with([] { data::random_split(10, 1, {1.2, -0.1, -0.1}); }, {"random_split", "[0, 1]"});
  testing::expect_error_with([] { data::stratified_split({0, 0}, 1, {0.0, 0.5, 0.5}); }, {"stratified_split", "train > 0"});
}

}  // namespace
}  // namespace xmkd
