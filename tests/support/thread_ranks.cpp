#include "tests/support/thread_ranks.h"

#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xmkd::testing {
namespace {

// A reusable barrier for n threads.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return generation_ != generation; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int n_, arrived_ = 0;
  int64_t generation_ = 0;
};

struct Shared {
  explicit Shared(int n) : barrier(n), slots(static_cast<size_t>(n)) {}
  Barrier barrier;
  std::vector<Tensor> slots;   // each rank's tensor of the current collective
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(Shared& shared, int rank, int size) : shared_(shared), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "threads"; }

  void all_reduce_sum(Tensor& t) override {
    const Tensor host = t.to(Device::CPU);
    publish(host);
    Tensor sum = shared_.slots[0].clone();
    for (int r = 1; r < size_; ++r) {
      const Tensor& other = shared_.slots[static_cast<size_t>(r)];
      XMKD_CHECK(other.numel() == sum.numel() && other.dtype() == sum.dtype(), "thread ranks: rank ", r,
                 " all-reduces ", other.str(), ", rank 0 ", sum.str());
      if (sum.dtype() == DType::Float32)
        for (int64_t i = 0; i < sum.numel(); ++i) sum.data<float>()[i] += other.data<float>()[i];
      else
        for (int64_t i = 0; i < sum.numel(); ++i) sum.data<int64_t>()[i] += other.data<int64_t>()[i];
    }
    shared_.barrier.wait();   // every rank has read the slots
    t.copy_from(sum);
  }

  void broadcast(Tensor& t, int root) override {
    publish(t.to(Device::CPU));
    const Tensor value = shared_.slots[static_cast<size_t>(root)].clone();
    shared_.barrier.wait();
    t.copy_from(value);
  }

 private:
  void publish(const Tensor& t) {
    shared_.slots[static_cast<size_t>(rank_)] = t;
    shared_.barrier.wait();
  }
  Shared& shared_;
  int rank_, size_;
};

}  // namespace

void run_ranks(int n, const std::function<void(Communicator& comm)>& body) {
  Shared shared(n);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(shared, r, n);
      try {
        body(comm);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace xmkd::testing
