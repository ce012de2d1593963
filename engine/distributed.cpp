#include "engine/distributed.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/dispatch.h"

namespace xmkd {

namespace {

thread_local Communicator* g_batchnorm_communicator = nullptr;

// Runs to completion when started: the default of transports that cannot overlap.
class Completed : public Communicator::Pending {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<Communicator::Pending> Communicator::start_all_reduce_sum(Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<Completed>();
}

void set_batchnorm_communicator(Communicator* comm) { g_batchnorm_communicator = comm; }
Communicator* batchnorm_communicator() { return g_batchnorm_communicator; }

GradientReducer::GradientReducer(Communicator& comm, std::vector<Tensor> parameters, int64_t bucket_bytes)
    : comm_(comm), parameters_(std::move(parameters)) {
  XMKD_CHECK(bucket_bytes > 0, "GradientReducer: bucket_bytes must be positive, got ", bucket_bytes);
  for (size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& p = parameters_[k];
    check_dtype("GradientReducer", "parameter", p, DType::Float32);
    XMKD_CHECK(p.requires_grad(), "GradientReducer: parameter ", k, " (", p.str(), ") does not require grad");
    XMKD_CHECK(bucket_of_.count(p.impl().get()) == 0, "GradientReducer: parameter ", k, " is listed twice");
    const bool full = !buckets_.empty() &&
                      static_cast<int64_t>(sizeof(float)) * (buckets_.back().values + p.numel()) > bucket_bytes;
    const bool other_device = !buckets_.empty() && parameters_[buckets_.back().members.front()].device() != p.device();
    if (buckets_.empty() || full || other_device) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.members.push_back(k);
    b.offsets.push_back(b.values);
    b.values += p.numel();
    bucket_of_[p.impl().get()] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) {
    const Device device = parameters_[b.members.front()].device();
    b.flat = Tensor::empty({b.values + static_cast<int64_t>(b.members.size())}, DType::Float32, device);
  }
}

void GradientReducer::on_gradient_ready(TensorImpl* leaf) {
  auto found = bucket_of_.find(leaf);
  if (found == bucket_of_.end()) return;   // a leaf that is not one of the parameters (an input)
  Bucket& b = buckets_[found->second];
  if (b.waiting > 0) b.waiting -= 1;
  // Buckets start in bucket order on every rank (the transports match collectives by their
  // order), so a complete bucket waits for the ones before it.
  while (next_start_ < buckets_.size() && buckets_[next_start_].waiting == 0) start(buckets_[next_start_++]);
  for (size_t k = 0; k < next_start_; ++k)
    if (buckets_[k].pending) buckets_[k].pending->progress();
}

void GradientReducer::start(Bucket& b) {
  NoGradGuard no_grad;
  Tensor& flat = b.flat;
  const Device device = flat.device();
  float* data = flat.data<float>();
  XMKD_DISPATCH(device, fill, data, flat.numel(), 0.0f);   // a missing gradient counts zero, its flag 0
  for (size_t m = 0; m < b.members.size(); ++m) {
    const Tensor g = parameters_[b.members[m]].grad();
    if (!g.defined()) continue;
    copy_bytes(data + b.offsets[m], device, g.data<float>(), device, g.nbytes());
    XMKD_DISPATCH(device, fill, data + b.values + static_cast<int64_t>(m), 1, 1.0f);
  }
  b.pending = comm_.start_all_reduce_sum(flat);
}

void GradientReducer::finish(Bucket& b) {
  NoGradGuard no_grad;
  b.pending->wait();
  b.pending.reset();
  const Device device = b.flat.device();
  const float* data = b.flat.data<float>();
  // The has-gradient flags (small integers, summed exactly) are the bucket's tail: one small
  // host copy per bucket.
  std::vector<float> flags(b.members.size());
  copy_bytes(flags.data(), Device::CPU, data + b.values, device, flags.size() * sizeof(float));
  const float inverse = 1.0f / static_cast<float>(comm_.size());
  for (size_t m = 0; m < b.members.size(); ++m) {
    Tensor& p = parameters_[b.members[m]];
    if (flags[m] == 0.0f) continue;   // no rank has a gradient
    Tensor g = p.grad();
    if (!g.defined()) g = Tensor::empty_like(p);
    XMKD_DISPATCH(device, fill, g.data<float>(), g.numel(), 0.0f);
    XMKD_DISPATCH(device, axpy, g.numel(), inverse, data + b.offsets[m], g.data<float>());
    p.set_grad(g);
  }
}

void GradientReducer::backward(const Tensor& loss) {
  for (Bucket& b : buckets_) b.waiting = b.members.size();
  next_start_ = 0;
  {
    LeafGradHookGuard hook([this](TensorImpl* leaf) { on_gradient_ready(leaf); });
    loss.backward();
  }
  // The buckets holding a parameter this backward did not reach (on this rank) start now.
  while (next_start_ < buckets_.size()) start(buckets_[next_start_++]);
  for (Bucket& b : buckets_) finish(b);
}

void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root) {
  if (comm.size() == 1 || tensors.empty()) return;
  // One broadcast of every tensor's bytes packed end to end (8-byte aligned), not one per tensor.
  const Device device = tensors.front().device();
  std::vector<size_t> offsets;
  size_t bytes = 0;
  for (const Tensor& t : tensors) {
    XMKD_CHECK(t.device() == device, "broadcast_tensors: ", t.str(), " is not on ", device_name(device),
               " like the first tensor");
    offsets.push_back(bytes);
    bytes += (t.nbytes() + 7) / 8 * 8;
  }
  Tensor packed = Tensor::empty({static_cast<int64_t>(bytes / sizeof(float))}, DType::Float32, device);   // raw bytes
  char* base = static_cast<char*>(packed.raw_data());
  for (size_t k = 0; k < tensors.size(); ++k) copy_bytes(base + offsets[k], device, tensors[k].raw_data(), device, tensors[k].nbytes());
  comm.broadcast(packed, root);
  for (size_t k = 0; k < tensors.size(); ++k) copy_bytes(tensors[k].raw_data(), device, base + offsets[k], device, tensors[k].nbytes());
}

}  // namespace xmkd
