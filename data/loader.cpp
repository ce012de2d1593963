// The threaded loader.
//
// An epoch's plan is fixed by start_epoch: one order of the dataset per stream (one stream when
// the modalities are paired, one per modality with independent shuffling), cut into batches of
// consecutive positions. Workers claim whole batches in increasing order, at most `window` ahead
// of the consumer (window = max(prefetch, workers)), and post each finished batch, or the error
// that stopped it, under its index; next() hands them out in order. So every batch, and every
// error, is the one a single thread would produce: a sample's content depends only on its
// dataset index and on its transform Generator, seeded from (seed, epoch, stream, position).
#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/random.h"

namespace xmkd::data {
namespace {

// A seed derived from a list of values; different lists give unrelated seeds.
uint64_t derive_seed(std::initializer_list<uint64_t> values) {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  for (uint64_t v : values) h = mix64(h ^ splitmix64(v));
  return h;
}

// Domains keep the order seeds and the transform seeds apart.
constexpr uint64_t kOrderDomain = 1, kTransformDomain = 2;

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, int64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  Generator gen(derive_seed({kOrderDomain, seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(stream)}));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.randint(i + 1)]);   // Fisher-Yates
  return order;
}

// One transformed sample, as a batch row; with independent shuffling only its stream's modality is used.
struct Row {
  int64_t index = 0;
  Sample sample;
};

// What a worker posts for one batch.
struct Built {
  Batch batch;
  std::exception_ptr error;
};

bool paired_streams(const LoaderOptions& o) { return !(o.shuffle && o.independent_modality_shuffle); }

// Fetches and transforms the samples of batch b of the epoch whose orders are given; false
// when `stop` is raised half way.
bool load_rows(const Dataset& dataset, const LoaderOptions& o, const std::vector<std::vector<int64_t>>& orders,
               int64_t epoch, const std::atomic<bool>& stop, int64_t b, std::vector<std::vector<Row>>& rows) {
  // Batch b of shard r is the r-th slice of B positions of the b-th global batch of shards·B.
  const int64_t N = dataset.size(), begin = (b * o.shards + o.shard) * o.batch_size;
  const int64_t end = std::min(N, begin + o.batch_size);
  rows.assign(orders.size(), {});
  for (size_t stream = 0; stream < orders.size(); ++stream) {
    for (int64_t p = begin; p < end; ++p) {
      if (stop.load()) return false;
      Row row;
      row.index = orders[stream][p];
      try {
        row.sample = dataset.get(row.index);
        if (o.transform) {
          Generator gen(derive_seed({kTransformDomain, o.seed, static_cast<uint64_t>(epoch), stream, static_cast<uint64_t>(p)}));
          o.transform->apply(row.sample, gen);
        }
      } catch (const std::exception& e) {
        fail("DataLoader: sample ", row.index, " (epoch ", epoch, ", batch ", b, "): ", e.what());
      }
      if (orders.size() > 1)   // independent streams: keep only this stream's modality
        for (size_t k = 0; k < row.sample.images.size(); ++k)
          if (k != stream) {
            row.sample.images[k] = Tensor();
            if (k < row.sample.label_maps.size()) row.sample.label_maps[k] = Tensor();
          }
      rows[stream].push_back(std::move(row));
    }
  }
  return true;
}

void check_row(const Dataset& dataset, const Row& row, size_t m) {
  const auto& specs = dataset.modalities();
  const Sample& s = row.sample;
  XMKD_CHECK(s.images.size() == specs.size(), "DataLoader: sample ", row.index, " has ", s.images.size(),
             " images, the dataset declares ", specs.size(), " modalities (", dataset.describe(), ")");
  const Tensor& img = s.images[m];
  XMKD_CHECK(img.defined() && img.ndim() == 3 && img.dtype() == DType::Float32 && img.device() == Device::CPU &&
                 img.dim(0) == specs[m].channels,
             "DataLoader: sample ", row.index, " modality '", specs[m].name, "' must be float32 (", specs[m].channels,
             ", H, W) on the CPU, got ", img.defined() ? img.str() : "an undefined tensor");
  XMKD_CHECK(s.label_maps.empty() || s.label_maps.size() == specs.size(), "DataLoader: sample ", row.index, " has ",
             s.label_maps.size(), " label maps, expected none or one per modality (", specs.size(), ")");
}

bool has_label_map(const Row& row, size_t m) { return !row.sample.label_maps.empty() && row.sample.label_maps[m].defined(); }

// Batch tensors are built in host memory, pinned when they will be copied to the GPU.
Tensor host_buffer(const Shape& shape, DType dtype, bool pinned) {
  return pinned ? Tensor::empty_pinned(shape, dtype) : Tensor::empty(shape, dtype);
}

Tensor stack_labels(const Dataset& dataset, const std::vector<Row>& rows, bool pinned) {
  Tensor labels = host_buffer({static_cast<int64_t>(rows.size())}, DType::Int64, pinned);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t label = rows[i].sample.label;
    XMKD_CHECK(label >= 0 && label < dataset.num_classes(), "DataLoader: sample ", rows[i].index, " has label ", label,
               ", expected one in [0, ", dataset.num_classes(), ") like the other samples of its batch");
    labels.data<int64_t>()[i] = label;
  }
  return labels;
}

// rows[i].sample.images[m] (C, H, W) -> (n, C, H, W); every row must have the first row's shape.
Tensor stack_images(const Dataset& dataset, const std::vector<Row>& rows, size_t m, bool pinned) {
  const Tensor& first = rows[0].sample.images[m];
  Shape shape = first.shape();
  shape.insert(shape.begin(), static_cast<int64_t>(rows.size()));
  Tensor out = host_buffer(shape, DType::Float32, pinned);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Tensor& img = rows[i].sample.images[m];
    XMKD_CHECK(img.shape() == first.shape(), "DataLoader: sample ", rows[i].index, " modality '", dataset.modalities()[m].name,
               "' is ", shape_str(img.shape()), " but sample ", rows[0].index, " of the same batch is ", shape_str(first.shape()),
               " (resize them to one size)");
    std::memcpy(out.data<float>() + i * first.numel(), img.data<float>(), img.nbytes());
  }
  return out;
}

Tensor stack_label_maps(const std::vector<Row>& rows, size_t m, const Tensor& images, bool pinned) {
  const int64_t H = images.dim(2), W = images.dim(3);
  Tensor out = host_buffer({static_cast<int64_t>(rows.size()), H, W}, DType::Int64, pinned);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Tensor& lm = rows[i].sample.label_maps[m];
    XMKD_CHECK(lm.ndim() == 2 && lm.dtype() == DType::Int64 && lm.device() == Device::CPU && lm.dim(0) == H && lm.dim(1) == W,
               "DataLoader: sample ", rows[i].index, " label map of modality ", m, " must be int64 (", H, ", ", W,
               ") on the CPU like its image, got ", lm.str());
    std::memcpy(out.data<int64_t>() + i * H * W, lm.data<int64_t>(), lm.nbytes());
  }
  return out;
}

// Paired streams share the label tensor, and a label map tensor wherever every row shares it.
Batch assemble(const Dataset& dataset, const std::vector<std::vector<Row>>& rows, bool pinned) {
  const size_t M = dataset.modalities().size();
  const bool paired = rows.size() == 1;
  Batch batch;
  for (size_t m = 0; m < M; ++m) {
    const std::vector<Row>& r = rows[paired ? 0 : m];
    for (const Row& row : r) check_row(dataset, row, m);
    batch.inputs.push_back(stack_images(dataset, r, m, pinned));
    std::vector<int64_t> indices;
    for (const Row& row : r) indices.push_back(row.index);
    batch.indices.push_back(std::move(indices));

    const bool labelled = r[0].sample.label >= 0;
    if (labelled) batch.labels.push_back(paired && m > 0 ? batch.labels[0] : stack_labels(dataset, r, pinned));
    for (const Row& row : r)
      XMKD_CHECK((row.sample.label >= 0) == labelled, "DataLoader: sample ", row.index, (labelled ? " has no" : " has a"),
                 " class label but sample ", r[0].index, " of the same batch ", (labelled ? "has one" : "has none"));

    const bool mapped = has_label_map(r[0], m);
    for (const Row& row : r)
      XMKD_CHECK(has_label_map(row, m) == mapped, "DataLoader: sample ", row.index, (mapped ? " has no" : " has a"),
                 " label map for modality ", m, " but sample ", r[0].index, " of the same batch ", (mapped ? "has one" : "has none"));
    if (!mapped) continue;
    bool shared = paired && m > 0 && batch.label_maps.size() == m;
    for (const Row& row : r) shared = shared && row.sample.label_maps[m].same_as(row.sample.label_maps[0]);
    batch.label_maps.push_back(shared ? batch.label_maps[0] : stack_label_maps(r, m, batch.inputs[m], pinned));
  }
  XMKD_CHECK(batch.label_maps.empty() || batch.label_maps.size() == M,
             "DataLoader: some modalities of the batch have label maps and others none");
  return batch;
}

// A shared tensor (the paired labels) is copied once and stays shared on the device.
void move_batch(Batch& batch, Device device) {
  std::vector<std::pair<Tensor, Tensor>> moved;   // (host, device)
  auto to = [&](Tensor& t) {
    for (const auto& [host, dev] : moved)
      if (host.same_as(t)) {
        t = dev;
        return;
      }
    Tensor d = t.to(device);
    moved.emplace_back(t, d);
    t = d;
  };
  for (Tensor& t : batch.inputs) to(t);
  for (Tensor& t : batch.labels) to(t);
  for (Tensor& t : batch.label_maps) to(t);
}

}  // namespace

struct DataLoader::State {
  std::shared_ptr<const Dataset> dataset;
  LoaderOptions options;

  // The epoch's plan: written by start() while no worker runs, then only read.
  int64_t epoch = -1;
  std::vector<std::vector<int64_t>> orders;   // per stream
  int64_t batches = 0;

  std::mutex mutex;
  std::condition_variable batch_posted;   // the consumer waits for its batch
  std::condition_variable slot_freed;     // workers wait for room in the window (or stop)
  std::map<int64_t, Built> ready;
  int64_t next_claim = 0;                 // the next batch a worker builds
  int64_t next_deliver = 0;               // the next batch next() returns
  std::atomic<bool> stop{false};
  std::exception_ptr failure;             // the epoch's error, rethrown by every later next()
  std::vector<std::thread> workers;

  // Raises stop, wakes and joins every worker (one in the middle of a sample finishes that
  // sample first), and drops the batches not handed out.
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    slot_freed.notify_all();
    for (std::thread& t : workers) t.join();
    workers.clear();
    ready.clear();
  }

  void start(int64_t e, int64_t batches_per_epoch) {
    stop_workers();
    epoch = e;
    orders.clear();
    const int64_t streams = paired_streams(options) ? 1 : static_cast<int64_t>(dataset->modalities().size());
    for (int64_t stream = 0; stream < streams; ++stream)
      orders.push_back(epoch_order(dataset->size(), options.shuffle, options.seed, epoch, stream));
    batches = batches_per_epoch;
    next_claim = next_deliver = 0;
    failure = nullptr;
    stop = false;
    const int64_t threads = std::min<int64_t>(options.workers, batches);
    for (int64_t w = 0; w < threads; ++w) workers.emplace_back([this] { worker_loop(); });
  }

  Built build(int64_t b) const {
    Built built;
    try {
      std::vector<std::vector<Row>> rows;
      if (load_rows(*dataset, options, orders, epoch, stop, b, rows)) built.batch = assemble(*dataset, rows, options.device == Device::CUDA);
    } catch (...) {
      built.error = std::current_exception();
    }
    return built;
  }

  void worker_loop() {
    const int64_t window = std::max<int64_t>(options.prefetch, options.workers);
    for (;;) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lock(mutex);
        slot_freed.wait(lock, [&] { return stop || next_claim >= batches || next_claim < next_deliver + window; });
        if (stop || next_claim >= batches) return;
        b = next_claim++;
      }
      Built built = build(b);
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (stop) return;
        ready.emplace(b, std::move(built));
      }
      batch_posted.notify_all();
    }
  }

  bool next(Batch& batch) {
    XMKD_CHECK(epoch >= 0, "DataLoader::next: call start_epoch(epoch) before the first next()");
    if (failure) std::rethrow_exception(failure);
    if (next_deliver >= batches) {
      stop_workers();   // they have all finished: this only joins them
      return false;
    }
    Built built;
    if (options.workers == 0) {
      built = build(next_deliver++);
    } else {
      {
        std::unique_lock<std::mutex> lock(mutex);
        batch_posted.wait(lock, [&] { return ready.count(next_deliver) > 0; });
        auto it = ready.find(next_deliver);
        built = std::move(it->second);
        ready.erase(it);
        ++next_deliver;
      }
      slot_freed.notify_all();
    }
    if (built.error) {
      stop_workers();
      failure = built.error;
      std::rethrow_exception(failure);
    }
    // For a GPU run the workers assembled the batch in pinned host memory; it is copied with
    // Tensor::to on this (the consumer's) thread, so the CUDA backend is only ever called from
    // the training thread.
    if (options.device != Device::CPU) move_batch(built.batch, options.device);
    batch = std::move(built.batch);
    return true;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)), state_(std::make_unique<State>()) {
  XMKD_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  XMKD_CHECK(dataset_->size() > 0, "DataLoader: the dataset is empty (", dataset_->describe(), ")");
  XMKD_CHECK(!dataset_->modalities().empty(), "DataLoader: the dataset has no modalities (", dataset_->describe(), ")");
  XMKD_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be > 0, got ", options_.batch_size);
  XMKD_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards, "DataLoader: shard ",
             options_.shard, " of ", options_.shards, " does not exist");
  XMKD_CHECK(options_.workers >= 0, "DataLoader: workers must be >= 0, got ", options_.workers);
  XMKD_CHECK(options_.prefetch >= 1, "DataLoader: prefetch must be >= 1, got ", options_.prefetch);
  XMKD_CHECK(options_.device == Device::CPU || cuda_available(),
             "DataLoader: device cuda was asked for but no CUDA device is available (use device cpu)");
  state_->dataset = dataset_;
  state_->options = options_;
}

DataLoader::~DataLoader() { state_->stop_workers(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t N = dataset_->size(), B = options_.batch_size, global = B * options_.shards;
  if (options_.drop_last) return N / global;
  const int64_t first = options_.shard * B;   // this shard's first position in each global batch
  return N > first ? (N - first + global - 1) / global : 0;
}

void DataLoader::start_epoch(int64_t epoch) {
  XMKD_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch must be >= 0, got ", epoch);
  state_->start(epoch, batches_per_epoch());
}

bool DataLoader::next(Batch& batch) { return state_->next(batch); }

}  // namespace xmkd::data
