// The loader: worker threads decode and transform samples into a bounded prefetch queue of
// ready batches, while the training step consumes the previous one.
//
// Shuffling is deterministic: the order of epoch e is a permutation drawn from (seed, e); with
// independent_modality_shuffle each modality draws its own permutation. A batch is identical
// whatever the number of workers. With device = CUDA, batches are assembled in pinned host memory
// copied to the GPU with Tensor::to by next(), on the consumer's thread.
#pragma once
#include <memory>

#include "data/batch.h"
#include "data/transforms.h"

namespace xmkd::data {

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  bool independent_modality_shuffle = false;
  bool drop_last = false;
  int workers = 2;            // 0: load in the calling thread
  int prefetch = 4;           // batches built or ready ahead of the consumer (at least one per worker)
  uint64_t seed = 0;
  // Data-parallel sharding: the epoch's order is cut into global batches of shards·batch_size
  // positions, and this loader's batch b is slice `shard` of global batch b. So `shards` loaders
  // with batch B together see exactly the batches of one loader with batch shards·B (the same
  // samples, transformed with the same Generators). With drop_last every shard has
  // N / (shards·B) batches; without, a shard's count is that of the global batches reaching it.
  int64_t shard = 0, shards = 1;
  Device device = Device::CPU;
  std::shared_ptr<Transform> transform;   // may be null
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  void start_epoch(int64_t epoch);   // (re)starts the workers on epoch's order
  bool next(Batch& batch);           // false at the end of the epoch; rethrows a worker's error
  int64_t batches_per_epoch() const;
  const Dataset& dataset() const { return *dataset_; }

 private:
  struct State;
  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace xmkd::data
