// Data-parallel training as the engine sees it: a Communicator that adds tensors up over the
// processes ("ranks") of a job, the bucketed gradient all-reduce that runs inside backward, and
// the switch that makes batch norm use the statistics of every rank (engine/ops.h
// sync_batch_norm). The engine knows no transport: the MPI and NCCL communicators live with the
// trainer (tools/train/distributed.h), which is the only part of xmkd that starts processes.
//
// The data-parallel step (docs/distributed.md): every rank holds the same weights, runs forward
// and backward on its own slice of the global batch, and the gradients are replaced by their
// mean over the ranks before the optimizer step. With a loss that is a mean over the batch, that
// is the gradient of the loss of the global batch, so N ranks with batch B step like one process
// with batch N·B; batch norm is the exception (its statistics are the rank's B samples) unless
// synchronised.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tensor.h"

namespace xmkd {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;   // "local", "mpi", "nccl"

  // Replaces the float32 tensor t by its sum over the ranks. Every rank makes the same calls in
  // the same order with tensors of the same shape (a collective).
  virtual void all_reduce_sum(Tensor& t) = 0;

  // A started all-reduce. t must stay alive and unwritten until wait() returns.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void progress() {}   // lets the transport advance (called from backward's hooks)
    virtual void wait() = 0;
  };
  // Starts all_reduce_sum(t) and returns at once where the transport can overlap it with
  // computation; the default runs it to completion before returning.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(Tensor& t);

  // Replaces t on every rank by root's t (same shape and dtype everywhere; any dtype).
  virtual void broadcast(Tensor& t, int root) = 0;
};

// A job of one process: every sum is the value itself.
class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void all_reduce_sum(Tensor&) override {}
  void broadcast(Tensor&, int) override {}
};

// Synchronised batch norm: while a communicator is set, every batch norm in training mode (the
// nn::BatchNorm modules) normalises with the mean and variance over the batches of all its
// ranks (sync_batch_norm). For the batch norms run on the calling thread (the training loop's;
// tests run several ranks as threads); null (the default) restores per-process statistics.
void set_batchnorm_communicator(Communicator* comm);
Communicator* batchnorm_communicator();

// Replaces the values of `tensors` (any dtypes, one device) on every rank by rank root's, in one
// broadcast of them packed together: the weights every rank starts from, the buffers of a step.
void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root = 0);

// The gradient all-reduce of data-parallel training. The parameters are grouped into buckets of
// about bucket_bytes, in the reverse of their order (the order in which backward completes them,
// output layers first). backward(loss) runs loss.backward() and, as soon as every gradient of a
// bucket is complete (autograd's LeafGradHook), copies them into the bucket's flat buffer and
// starts its sum over the ranks (in bucket order, the same on every rank), so the transfers of the late layers overlap the backward of the
// early ones; when backward ends it waits for every bucket and replaces each gradient by its mean
// over the ranks. A parameter that got no gradient on any rank keeps none (so the optimizer skips
// it, as it would in one process); one that got a gradient on some rank gets the mean, the other
// ranks counting zero.
class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<Tensor> parameters, int64_t bucket_bytes);
  void backward(const Tensor& loss);
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<size_t> members;   // indices into parameters_
    std::vector<int64_t> offsets;  // of each member in flat; the has-gradient flags follow the values
    int64_t values = 0;            // floats of gradient in flat
    Tensor flat;                   // (values + members.size()) on the parameters' device
    size_t waiting = 0;            // members whose gradient is not complete yet
    std::unique_ptr<Communicator::Pending> pending;
  };
  void on_gradient_ready(TensorImpl* leaf);
  void start(Bucket& bucket);
  void finish(Bucket& bucket);

  Communicator& comm_;
  std::vector<Tensor> parameters_;
  std::vector<Bucket> buckets_;
  size_t next_start_ = 0;                                // the next bucket to start, in order
  std::unordered_map<TensorImpl*, size_t> bucket_of_;   // parameter -> its bucket
};

}  // namespace xmkd
