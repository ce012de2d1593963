#include <gtest/gtest.h>

#include "engine/allocator.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "kernels/cuda/runtime.h"
#include "tests/support/errors.h"

namespace xmkd {
namespace {

TEST(Tensor, CreationShapesAndTypes) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.device(), Device::CPU);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(Tensor::full({2}, 3.5f).to_vector<float>(), (std::vector<float>{3.5f, 3.5f}));
  Tensor labels = Tensor::from_vector<int64_t>({1, 2, 3}, {3});
  EXPECT_EQ(labels.dtype(), DType::Int64);
  EXPECT_EQ(Tensor::scalar(2.0f).ndim(), 0);
  EXPECT_EQ(Tensor::scalar(2.0f).item(), 2.0f);
}

TEST(Tensor, WrongTypeAccessNamesTheTensor) {
  Tensor labels = Tensor::from_vector<int64_t>({1}, {1});
  try {
    labels.data<float>();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int64 (1,)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(Tensor().shape(), Error);
}

TEST(Tensor, ViewSharesDataCloneDoesNot) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor v = a.view({4});
  Tensor c = a.clone();
  a.data<float>()[0] = 9;
  EXPECT_EQ(v.to_vector<float>()[0], 9);
  EXPECT_EQ(c.to_vector<float>()[0], 1);
  EXPECT_THROW(a.view({3}), Error);
}

// Without a usable device a CUDA tensor is an error that says why (the CUDA error name, or that
// the build has no CUDA), never "out of cuda memory". Not a gpu test: it runs where there is none.
TEST(Tensor, CudaRequestWithoutCudaIsLoud) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  Tensor a = Tensor::zeros({2});
  const std::string message = testing::error_message([&] { a.to(Device::CUDA); });
  EXPECT_TRUE(testing::contains(message, built_with_cuda() ? "no CUDA device: " : "built without CUDA")) << message;
  EXPECT_FALSE(testing::contains(message, "out of cuda memory")) << message;
  EXPECT_TRUE(testing::contains(message, cuda::device_status())) << message;
}

TEST(Allocator, FreedBlocksAreReused) {
  { Tensor warm = Tensor::empty({1000}); }
  MemoryStats before = memory_stats(Device::CPU);
  { Tensor t = Tensor::empty({1000}); }
  MemoryStats after = memory_stats(Device::CPU);
  EXPECT_EQ(after.system_allocs, before.system_allocs);
  EXPECT_EQ(after.reuses, before.reuses + 1);
  EXPECT_EQ(after.in_use, before.in_use);
}

TEST(Allocator, PeakTracksHighWaterMark) {
  reset_peak_memory(Device::CPU);
  size_t base = memory_stats(Device::CPU).in_use;
  { Tensor t = Tensor::empty({1 << 20}); }
  MemoryStats s = memory_stats(Device::CPU);
  EXPECT_GE(s.peak_in_use, base + (4u << 20));
  EXPECT_EQ(s.in_use, base);
}

TEST(Random, SameSeedSameStream) {
  Generator a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) {
    float x = a.normal();
    EXPECT_EQ(x, b.normal());
    (void)c;
  }
  Generator d(7);
  double mean = 0;
  for (int i = 0; i < 100000; ++i) mean += d.uniform();
  EXPECT_NEAR(mean / 100000, 0.5, 0.01);
}

}  // namespace
}  // namespace xmkd

namespace xmkd {
namespace {

TEST(Tensor, PinnedHostTensorsAreOrdinaryCpuTensors) {
  // Page-locked when CUDA provides it, ordinary memory otherwise; either way a CPU tensor.
  Tensor t = Tensor::empty_pinned({3, 5});
  EXPECT_EQ(t.device(), Device::CPU);
  EXPECT_TRUE(t.is_pinned());
  EXPECT_FALSE(Tensor::empty({3, 5}).is_pinned());
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  EXPECT_EQ(t.clone().to_vector<float>()[14], 14.0f);
  MemoryStats before = pinned_host_memory_stats();
  { Tensor again = Tensor::empty_pinned({3, 5}, DType::Int64); }
  { Tensor again = Tensor::empty_pinned({3, 5}, DType::Int64); }
  MemoryStats after = pinned_host_memory_stats();
  EXPECT_EQ(after.reuses, before.reuses + 1) << "the pinned pool caches freed blocks";
  if (cuda_available()) {
    Tensor d = t.to(Device::CUDA);
    EXPECT_EQ(d.to(Device::CPU).to_vector<float>(), t.to_vector<float>());
  }
}

}  // namespace
}  // namespace xmkd
