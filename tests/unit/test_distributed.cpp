// What the ranks of a data-parallel job compute together, with the ranks as threads
// (tests/support/thread_ranks.h): synchronised batch norm and the gradient all-reduce. The
// multi-process runs through MPI are tests/distributed/.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "models/resnet18.h"
#include "tests/support/thread_ranks.h"

namespace xmkd {
namespace {

Tensor rows(const Tensor& x, int64_t begin, int64_t end) {
  Shape shape = x.shape();
  const int64_t per_row = x.numel() / shape[0];
  shape[0] = end - begin;
  std::vector<float> all = x.to_vector<float>();
  return Tensor::from_vector(std::vector<float>(all.begin() + begin * per_row, all.begin() + end * per_row), shape);
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

struct BatchNormState {
  Tensor weight, bias, running_mean, running_var;
  explicit BatchNormState(int64_t C) {
    Generator gen(7);
    weight = rand_uniform({C}, 0.5f, 1.5f, gen).set_requires_grad(true);
    bias = rand_uniform({C}, -0.5f, 0.5f, gen).set_requires_grad(true);
    running_mean = rand_uniform({C}, 2.0f, 4.0f, gen);
    running_var = rand_uniform({C}, 0.5f, 2.0f, gen);
  }
};

// One rank: the split kernels give the fused kernels' numbers. Tolerance: both accumulate in
// double and round once; they differ in the shift (running mean vs first value) and in the sums
// being rounded to float32 between the kernels, ~1e-7 relative in mean and variance.
TEST(SyncBatchNorm, OneRankIsBatchNorm) {
  Generator gen(1);
  const Tensor x_data = rand_uniform({6, 3, 5, 4}, 1.0f, 6.0f, gen);   // |mean| >> std, as after a ReLU
  const Tensor g = rand_uniform({6, 3, 5, 4}, -1.0f, 1.0f, gen);
  BatchNormState a(3), b(3);
  Tensor xa = x_data.clone().set_requires_grad(true), xb = x_data.clone().set_requires_grad(true);
  const Tensor ya = batch_norm(xa, a.weight, a.bias, a.running_mean, a.running_var, true, 0.1f, 1e-5f);
  LocalCommunicator one;
  const Tensor yb = sync_batch_norm(xb, b.weight, b.bias, b.running_mean, b.running_var, one, 0.1f, 1e-5f);
  EXPECT_LT(max_abs_diff(ya, yb), 2e-6f);
  EXPECT_LT(max_abs_diff(a.running_mean, b.running_mean), 1e-6f);
  EXPECT_LT(max_abs_diff(a.running_var, b.running_var), 1e-6f);
  sum(mul(ya, g)).backward();
  sum(mul(yb, g)).backward();
  EXPECT_LT(max_abs_diff(xa.grad(), xb.grad()), 2e-6f);
  EXPECT_LT(max_abs_diff(a.weight.grad(), b.weight.grad()), 1e-5f);
  EXPECT_LT(max_abs_diff(a.bias.grad(), b.bias.grad()), 1e-5f);
}

// Two ranks with half the batch each: every rank's output and input gradient are its rows of
// the whole batch's, the running statistics are the whole batch's, and the ranks' dweight and
// dbias add up to the whole batch's (the gradient all-reduce then averages them). Same rounding
// argument as above.
TEST(SyncBatchNorm, TwoRanksAreOneBatch) {
  Generator gen(2);
  const Tensor x_data = rand_uniform({8, 4, 3, 3}, -2.0f, 5.0f, gen);
  const Tensor g = rand_uniform({8, 4, 3, 3}, -1.0f, 1.0f, gen);
  BatchNormState whole(4);
  Tensor x = x_data.clone().set_requires_grad(true);
  const Tensor y = batch_norm(x, whole.weight, whole.bias, whole.running_mean, whole.running_var, true);
  sum(mul(y, g)).backward();

  std::vector<BatchNormState> state{BatchNormState(4), BatchNormState(4)};
  std::vector<Tensor> y_rank(2), dx_rank(2);
  testing::run_ranks(2, [&](Communicator& comm) {
    const int r = comm.rank();
    Tensor xr = rows(x_data, 4 * r, 4 * r + 4).set_requires_grad(true);
    BatchNormState& s = state[static_cast<size_t>(r)];
    y_rank[static_cast<size_t>(r)] = sync_batch_norm(xr, s.weight, s.bias, s.running_mean, s.running_var, comm);
    sum(mul(y_rank[static_cast<size_t>(r)], rows(g, 4 * r, 4 * r + 4))).backward();
    dx_rank[static_cast<size_t>(r)] = xr.grad();
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_LT(max_abs_diff(y_rank[r], rows(y, 4 * r, 4 * r + 4)), 2e-6f) << "rank " << r;
    EXPECT_LT(max_abs_diff(dx_rank[r], rows(x.grad(), 4 * r, 4 * r + 4)), 2e-6f) << "rank " << r;
    EXPECT_LT(max_abs_diff(state[r].running_mean, whole.running_mean), 1e-6f);
    EXPECT_LT(max_abs_diff(state[r].running_var, whole.running_var), 1e-6f);
  }
  EXPECT_LT(max_abs_diff(add(state[0].weight.grad(), state[1].weight.grad()), whole.weight.grad()), 1e-5f);
  EXPECT_LT(max_abs_diff(add(state[0].bias.grad(), state[1].bias.grad()), whole.bias.grad()), 1e-5f);
}

// The data-parallel step of a ResNet-18: two ranks with batch B, synchronised batch norm and the
// bucketed all-reduce (small buckets, so several overlap backward) give every rank the gradients
// of one process with batch 2B and the same loss. Tolerance: the same sums in another order (a
// weight gradient sums 2·B·P·Q products per entry, here split per rank and blocked differently
// by the GEMM for B and 2B rows, then the mean of two means), whose terms cancel: the error is
// relative to the sum of |terms|, about the gradient's largest entry, not to each entry. Measured
// up to 2.1e-5 of the largest entry; 5e-5 allows for another GEMM kernel. Without synchronised
// batch norm the same step differs by more than 1e-2 of it (checked below), so the bound tells
// the two apart by a factor of 200.
std::vector<Tensor> two_rank_gradients(const Tensor& images, const std::vector<int64_t>& label_values, bool sync,
                                       std::vector<int64_t>* buckets) {
  const int64_t B = images.dim(0) / 2;
  std::vector<std::unique_ptr<models::ResNet18>> nets;
  for (int r = 0; r < 2; ++r) {
    manual_seed(11);
    nets.push_back(std::make_unique<models::ResNet18>(3, 5));
    nets.back()->train();
  }
  testing::run_ranks(2, [&](Communicator& comm) {
    const int r = comm.rank();
    models::ResNet18& net = *nets[static_cast<size_t>(r)];
    if (sync) set_batchnorm_communicator(&comm);   // this thread's batch norms
    GradientReducer reducer(comm, net.parameters(), 512 * 1024);
    if (buckets) (*buckets)[static_cast<size_t>(r)] = reducer.bucket_count();
    const Tensor mine = rows(images, B * r, B * r + B);
    const Tensor my_labels =
        Tensor::from_vector(std::vector<int64_t>(label_values.begin() + B * r, label_values.begin() + B * r + B), {B});
    reducer.backward(cross_entropy(net.forward(mine), my_labels));
    set_batchnorm_communicator(nullptr);
  });
  std::vector<Tensor> grads;
  for (int r = 0; r < 2; ++r)
    for (const auto& [name, p] : nets[r]->named_parameters()) grads.push_back(p.grad());
  return grads;   // rank 0's, then rank 1's
}

TEST(GradientReducer, TwoRanksWithSyncBatchNormStepLikeOneBatch) {
  constexpr int64_t B = 4;
  Generator gen(3);
  const Tensor images = rand_uniform({2 * B, 3, 16, 16}, 0.0f, 1.0f, gen);
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < 2 * B; ++i) label_values.push_back(i % 5);
  const Tensor labels = Tensor::from_vector(label_values, {2 * B});

  manual_seed(11);
  models::ResNet18 whole(3, 5);
  whole.train();
  cross_entropy(whole.forward(images), labels).backward();

  std::vector<int64_t> buckets(2);
  const std::vector<Tensor> synced = two_rank_gradients(images, label_values, true, &buckets);
  const std::vector<Tensor> unsynced = two_rank_gradients(images, label_values, false, nullptr);
  EXPECT_GT(buckets[0], 4);
  const auto expected = whole.named_parameters();
  float worst_unsynced = 0;   // relative to the gradient's largest entry
  for (int r = 0; r < 2; ++r) {
    for (size_t k = 0; k < expected.size(); ++k) {
      const Tensor& e = expected[k].second.grad();
      const std::vector<float> ev = e.to_vector<float>();
      float scale = 0;
      for (float v : ev) scale = std::max(scale, std::fabs(v));
      const size_t at = static_cast<size_t>(r) * expected.size() + k;
      EXPECT_LE(max_abs_diff(synced[at], e), 5e-5f * scale)
          << "rank " << r << " " << expected[k].first << " (largest |gradient| " << scale << ")";
      if (scale > 0) worst_unsynced = std::max(worst_unsynced, max_abs_diff(unsynced[at], e) / scale);
    }
  }
  EXPECT_GT(worst_unsynced, 1e-2f);
}

}  // namespace
}  // namespace xmkd
