// The threaded loader: order from (seed, epoch), batch content from the encoded pixels, batches
// identical for any number of workers, worker errors reaching the consumer, and shutdown in the
// middle of an epoch without deadlock or leaked memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <set>

#include "data/loader.h"
#include "engine/allocator.h"
#include "tests/support/errors.h"
#include "tests/unit/data_loader_helpers.h"
#include "tests/unit/data_test_dataset.h"

namespace xmkd {
namespace {

using data::Batch;
using data::DataLoader;
using data::LoaderOptions;
using testing::decode_pixel;
using testing::EncodedDataset;
using testing::EncodedOptions;
using testing::busy_transform;
using testing::same_bits;
using testing::whole_epoch;

// Every value of every input row comes from the sample its index names, from its own modality,
// channel and pixel position (no transform).
void expect_rows_match_indices(const Batch& batch, int64_t num_classes) {
  for (size_t m = 0; m < batch.inputs.size(); ++m) {
    const Tensor& in = batch.inputs[m];
    const int64_t n = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3);
    ASSERT_EQ(static_cast<int64_t>(batch.indices[m].size()), n);
    const float* p = in.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const auto o = decode_pixel(p[((i * C + c) * H + y) * W + x]);
            ASSERT_TRUE((o == testing::PixelOrigin{batch.indices[m][i], static_cast<int64_t>(m), c, y, x}))
                << "modality " << m << " row " << i << " channel " << c << " at " << y << ", " << x;
          }
    if (!batch.labels.empty()) {
      const auto labels = batch.labels[m].to_vector<int64_t>();
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(labels[i], batch.indices[m][i] % num_classes);
    }
  }
}

std::vector<int64_t> epoch_indices(const std::vector<Batch>& batches, size_t m) {
  std::vector<int64_t> out;
  for (const Batch& b : batches) out.insert(out.end(), b.indices[m].begin(), b.indices[m].end());
  return out;
}

bool is_permutation_of_range(std::vector<int64_t> v, int64_t n) {
  std::sort(v.begin(), v.end());
  for (int64_t i = 0; i < n; ++i)
    if (static_cast<int64_t>(v.size()) != n || v[i] != i) return false;
  return true;
}

// Runs f on another thread; a hang (a deadlock) ends the test program with a message instead of
// leaving ctest to wait for its timeout.
void expect_finishes_within(int seconds, const std::function<void()>& f) {
  std::promise<std::string> done;
  auto result = done.get_future();
  std::thread t([&] {
    try {
      f();
      done.set_value("");
    } catch (const std::exception& e) {
      done.set_value(e.what());
    }
  });
  if (result.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) {
    std::cerr << "DataLoader test did not finish within " << seconds << " s: deadlock\n";
    std::_Exit(1);
  }
  t.join();
  const std::string error = result.get();
  EXPECT_EQ(error, "") << "unexpected exception";
}

TEST(DataLoader, UnshuffledBatchesHoldTheDatasetInOrder) {
  EncodedOptions eo;
  eo.count = 10;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 4, o.shuffle = false, o.workers = 2;
  DataLoader loader(dataset, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].size(), 2);
  for (const Batch& b : batches) {
    ASSERT_EQ(b.inputs.size(), 2u);
    EXPECT_EQ(b.inputs[0].shape(), (Shape{b.size(), 3, 6, 6}));
    EXPECT_EQ(b.inputs[1].shape(), (Shape{b.size(), 1, 6, 6}));
    ASSERT_EQ(b.labels.size(), 2u);
    EXPECT_EQ(b.labels[0].dtype(), DType::Int64);
    EXPECT_TRUE(b.labels[1].same_as(b.labels[0])) << "paired modalities share one label tensor";
    EXPECT_TRUE(b.label_maps.empty());
    EXPECT_EQ(b.indices[0], b.indices[1]);
    expect_rows_match_indices(b, eo.num_classes);
  }
  EXPECT_EQ(epoch_indices(batches, 0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Batch extra;
  EXPECT_FALSE(loader.next(extra)) << "the epoch stays ended";

  o.drop_last = true;
  DataLoader dropping(dataset, o);
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  const auto kept = whole_epoch(dropping, 0);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(epoch_indices(kept, 0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// Data-parallel sharding: shard r's batch b is the r-th slice of the unsharded loader's batch b
// of shards·B, with the same transformed content; without drop_last the shards' counts follow
// the global batches that reach them.
TEST(DataLoader, ShardsTogetherAreTheBatchesOfOneLoaderWithTheirTotalBatchSize) {
  EncodedOptions eo;
  eo.count = 29;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions whole_options;
  whole_options.batch_size = 6, whole_options.shuffle = true, whole_options.seed = 5, whole_options.drop_last = true;
  whole_options.transform = busy_transform(false);
  DataLoader whole(dataset, whole_options);
  const auto expected = whole_epoch(whole, 3);
  ASSERT_EQ(expected.size(), 4u);
  for (int64_t shard = 0; shard < 3; ++shard) {
    LoaderOptions o = whole_options;
    o.batch_size = 2, o.shard = shard, o.shards = 3;
    DataLoader part(dataset, o);
    const auto batches = whole_epoch(part, 3);
    ASSERT_EQ(batches.size(), expected.size());
    for (size_t b = 0; b < batches.size(); ++b) {
      const auto& all = expected[b].indices[0];
      EXPECT_EQ(batches[b].indices[0], std::vector<int64_t>(all.begin() + 2 * shard, all.begin() + 2 * shard + 2));
      const std::vector<float> got = batches[b].inputs[0].to_vector<float>();
      const std::vector<float> want = expected[b].inputs[0].to_vector<float>();
      const size_t row = got.size() / 2;
      EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin() + static_cast<std::ptrdiff_t>(2 * shard * row)))
          << "shard " << shard << " batch " << b;
    }
  }
  // 29 samples, global batches of 3·4 = 12 positions: 3 of them, the last one (24..28) reaching
  // shards 0 and 1 (24..27, 28) but not shard 2.
  LoaderOptions o = whole_options;
  o.drop_last = false, o.batch_size = 4, o.shards = 3;
  std::vector<int64_t> counts;
  for (int64_t shard = 0; shard < 3; ++shard) {
    o.shard = shard;
    counts.push_back(DataLoader(dataset, o).batches_per_epoch());
  }
  EXPECT_EQ(counts, (std::vector<int64_t>{3, 3, 2}));
  o.shard = 3;
  EXPECT_THROW(DataLoader(dataset, o), Error);
}

TEST(DataLoader, ShuffledOrderIsAPermutationFixedBySeedAndEpoch) {
  EncodedOptions eo;
  eo.count = 23;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 5, o.seed = 42, o.workers = 2;
  DataLoader a(dataset, o), b(dataset, o);
  o.seed = 43;
  DataLoader other_seed(dataset, o);
  const auto a0 = whole_epoch(a, 0), a1 = whole_epoch(a, 1), b0 = whole_epoch(b, 0), c0 = whole_epoch(other_seed, 0);
  for (const Batch& batch : a0) expect_rows_match_indices(batch, eo.num_classes);
  const auto order = epoch_indices(a0, 0);
  EXPECT_TRUE(is_permutation_of_range(order, 23));
  EXPECT_TRUE(is_permutation_of_range(epoch_indices(a1, 0), 23));
  EXPECT_EQ(epoch_indices(b0, 0), order) << "same seed and epoch, same order";
  EXPECT_NE(epoch_indices(a1, 0), order) << "another epoch, another order";
  EXPECT_NE(epoch_indices(c0, 0), order) << "another seed, another order";
  EXPECT_EQ(epoch_indices(a0, 1), order) << "paired modalities share the order";
  EXPECT_EQ(epoch_indices(whole_epoch(a, 0), 0), order) << "an epoch can be replayed";
}

TEST(DataLoader, IndependentModalityShuffleGivesEachModalityItsOwnOrderAndLabels) {
  EncodedOptions eo;
  eo.count = 17;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 4, o.seed = 3, o.workers = 2, o.independent_modality_shuffle = true;
  DataLoader loader(dataset, o);
  const auto batches = whole_epoch(loader, 0);
  const auto rgb = epoch_indices(batches, 0), depth = epoch_indices(batches, 1);
  EXPECT_TRUE(is_permutation_of_range(rgb, 17));
  EXPECT_TRUE(is_permutation_of_range(depth, 17));
  EXPECT_NE(rgb, depth);
  for (const Batch& b : batches) {
    EXPECT_FALSE(b.labels[1].same_as(b.labels[0]));
    expect_rows_match_indices(b, eo.num_classes);   // labels follow each modality's own samples
  }
}

TEST(DataLoader, BatchesAreBitIdenticalWhateverTheNumberOfWorkers) {
  EncodedOptions eo;
  eo.count = 29;
  eo.label_maps = true;
  eo.num_classes = 36;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  for (bool independent : {false, true})
    for (bool decoupled : {false, true}) {
      std::vector<std::vector<Batch>> runs;
      for (int workers : {0, 1, 3}) {
        LoaderOptions o;
        o.batch_size = 4, o.seed = 9, o.workers = workers, o.prefetch = 2;
        o.independent_modality_shuffle = independent;
        o.transform = busy_transform(decoupled);
        DataLoader loader(dataset, o);
        std::vector<Batch> run = whole_epoch(loader, 0);
        const auto second = whole_epoch(loader, 1);
        run.insert(run.end(), second.begin(), second.end());
        runs.push_back(run);
      }
      for (size_t r = 1; r < runs.size(); ++r) {
        ASSERT_EQ(runs[r].size(), runs[0].size());
        for (size_t i = 0; i < runs[0].size(); ++i) {
          const Batch &a = runs[0][i], &b = runs[r][i];
          ASSERT_EQ(a.indices, b.indices);
          for (size_t m = 0; m < 2; ++m) {
            EXPECT_TRUE(same_bits(a.inputs[m], b.inputs[m])) << "batch " << i << " modality " << m;
            EXPECT_TRUE(same_bits(a.labels[m], b.labels[m]));
            EXPECT_TRUE(same_bits(a.label_maps[m], b.label_maps[m]));
          }
        }
      }
      // The transform did act: the same rows without it hold other values.
      LoaderOptions plain;
      plain.batch_size = 4, plain.seed = 9, plain.workers = 0, plain.independent_modality_shuffle = independent;
      DataLoader untransformed(dataset, plain);
      const auto reference = whole_epoch(untransformed, 0);
      ASSERT_EQ(reference[0].indices, runs[0][0].indices);
      EXPECT_FALSE(same_bits(reference[0].inputs[0], runs[0][0].inputs[0]));
      EXPECT_FALSE(same_bits(reference[0].inputs[1], runs[0][0].inputs[1]));
    }
}

// A decoupled geometric transform gives each modality its own label map, which moves with that
// modality's image: label (y·W + x) of a pixel names the position its image pixel came from.
TEST(DataLoader, LabelMapsAreBatchedPerModality) {
  EncodedOptions eo;
  eo.count = 12;
  eo.label_maps = true;
  eo.num_classes = 36;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  for (bool decoupled : {false, true}) {
    LoaderOptions o;
    o.batch_size = 6, o.seed = 1, o.workers = 2;
    data::GeometricOptions g;
    g.hflip = 0.5f, g.vflip = 0.5f, g.rot90 = 0.5f, g.decoupled = decoupled;
    o.transform = data::geometric(g);
    DataLoader loader(dataset, o);
    int differing_rows = 0;
    for (const Batch& b : whole_epoch(loader, 0)) {
      ASSERT_EQ(b.label_maps.size(), 2u);
      EXPECT_EQ(b.label_maps[0].shape(), (Shape{b.size(), 6, 6}));
      EXPECT_EQ(b.label_maps[0].dtype(), DType::Int64);
      EXPECT_EQ(b.label_maps[1].same_as(b.label_maps[0]), !decoupled);
      for (size_t m = 0; m < 2; ++m) {
        const float* img = b.inputs[m].data<float>();
        const int64_t* lm = b.label_maps[m].data<int64_t>();
        const int64_t C = b.inputs[m].dim(1);
        for (int64_t i = 0; i < b.size(); ++i)
          for (int64_t p = 0; p < 36; ++p) {
            const auto o = decode_pixel(img[i * C * 36 + p]);
            ASSERT_EQ(o.index, b.indices[m][i]);
            ASSERT_EQ(lm[i * 36 + p], o.y * 6 + o.x) << "modality " << m << " row " << i << " pixel " << p;
          }
      }
      for (int64_t i = 0; i < b.size(); ++i)
        if (std::memcmp(b.label_maps[0].data<int64_t>() + i * 36, b.label_maps[1].data<int64_t>() + i * 36, 36 * 8) != 0)
          ++differing_rows;
    }
    if (decoupled) EXPECT_GT(differing_rows, 0);
    else EXPECT_EQ(differing_rows, 0);
  }
}

TEST(DataLoader, DatasetWithoutLabelsGivesNoLabelTensors) {
  EncodedOptions eo;
  eo.labels = false;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 3, o.workers = 1;
  DataLoader loader(dataset, o);
  for (const Batch& b : whole_epoch(loader, 0)) {
    EXPECT_TRUE(b.labels.empty());
    EXPECT_EQ(b.inputs.size(), 2u);
  }
}

TEST(DataLoader, AWorkersErrorIsRethrownByNextWithItsMessage) {
  EncodedOptions eo;
  eo.count = 12;
  eo.throw_at = 6;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  for (int workers : {0, 2}) {
    LoaderOptions o;
    o.batch_size = 2, o.shuffle = false, o.workers = workers;
    DataLoader loader(dataset, o);
    for (int epoch = 0; epoch < 2; ++epoch) {   // start_epoch clears the error
      expect_finishes_within(30, [&] {
        loader.start_epoch(epoch);
        Batch b;
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(loader.next(b)) << "batches before the broken one arrive";
        for (int attempt = 0; attempt < 2; ++attempt)   // the error is sticky for the epoch
          testing::expect_error_naming([&] { loader.next(b); }, "sample 6 is deliberately broken", "DataLoader: sample 6");
      });
    }
  }
}

TEST(DataLoader, RestartingAndDestroyingMidEpochNeitherHangsNorLeaks) {
  EncodedOptions eo;
  eo.count = 40;
  eo.delay_us = 2000;   // workers are inside get() when we stop them
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 4, o.seed = 5, o.workers = 3, o.prefetch = 2;
  o.transform = busy_transform(false);

  LoaderOptions serial = o;
  serial.workers = 0;
  DataLoader reference(dataset, serial);
  const auto expected = whole_epoch(reference, 1);

  const size_t before = memory_stats(Device::CPU).in_use;
  expect_finishes_within(60, [&] {
    {
      DataLoader loader(dataset, o);
      loader.start_epoch(0);
      Batch b;
      ASSERT_TRUE(loader.next(b));
      loader.start_epoch(1);   // restart while workers run
      size_t i = 0;
      while (loader.next(b)) {
        ASSERT_LT(i, expected.size());
        EXPECT_EQ(b.indices, expected[i].indices);
        EXPECT_TRUE(same_bits(b.inputs[0], expected[i].inputs[0]));
        ++i;
      }
      EXPECT_EQ(i, expected.size());
      loader.start_epoch(2);
      ASSERT_TRUE(loader.next(b));
    }   // destroyed mid-epoch, after one batch
    {
      DataLoader loader(dataset, o);
      loader.start_epoch(0);   // destroyed at once: workers mid-sample
    }
    {
      DataLoader loader(dataset, o);
      loader.start_epoch(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));   // workers now wait for a free slot
    }
  });
  EXPECT_EQ(memory_stats(Device::CPU).in_use, before) << "every batch and sample was freed";
}

TEST(DataLoader, MisuseIsAnError) {
  auto dataset = std::make_shared<EncodedDataset>(EncodedOptions{});
  LoaderOptions o;
  DataLoader loader(dataset, o);
  Batch b;
  testing::expect_error_naming([&] { loader.next(b); }, "DataLoader::next", "start_epoch");
  o.batch_size = 0;
  testing::expect_error_naming([&] { DataLoader(dataset, o); }, "DataLoader", "batch_size");
  o = {};
  o.prefetch = 0;
  testing::expect_error_naming([&] { DataLoader(dataset, o); }, "DataLoader", "prefetch");
  o = {};
  testing::expect_error_naming([&] { DataLoader(nullptr, o); }, "DataLoader", "null");
  if (!cuda_available()) {
    o.device = Device::CUDA;
    testing::expect_error_naming([&] { DataLoader(dataset, o); }, "DataLoader", "cuda");
  }
  // A sample whose modality has the wrong channel count names the sample and the modality.
  EncodedOptions eo;
  struct WrongChannels : EncodedDataset {
    using EncodedDataset::EncodedDataset;
    const std::vector<data::ModalitySpec>& modalities() const override { return specs; }
    std::vector<data::ModalitySpec> specs = {{"rgb", 3}, {"depth", 2}};
  };
  DataLoader wrong(std::make_shared<WrongChannels>(eo), LoaderOptions{});
  wrong.start_epoch(0);
  testing::expect_error_naming([&] { wrong.next(b); }, "DataLoader", "modality 'depth'");
}

}  // namespace
}  // namespace xmkd
