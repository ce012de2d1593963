// The loader with device = CUDA: batches assembled on the host and copied, bit-identical to the
// host batches (ctest label gpu: skips without a device).
#include <gtest/gtest.h>

#include "data/loader.h"
#include "tests/support/cuda_skip.h"
#include "tests/unit/data_loader_helpers.h"
#include "tests/unit/data_test_dataset.h"

namespace xmkd {
namespace {

using data::DataLoader;
using data::LoaderOptions;
using testing::busy_transform;
using testing::EncodedDataset;
using testing::EncodedOptions;
using testing::same_bits;
using testing::whole_epoch;

TEST(DataLoaderCuda, BatchesOnTheDeviceEqualTheHostBatches) {
  XMKD_SKIP_WITHOUT_CUDA();
  EncodedOptions eo;
  eo.count = 9;
  eo.label_maps = true;
  eo.num_classes = 36;
  auto dataset = std::make_shared<EncodedDataset>(eo);
  LoaderOptions o;
  o.batch_size = 4, o.workers = 2, o.transform = busy_transform(true);
  DataLoader host(dataset, o);
  o.device = Device::CUDA;
  DataLoader device(dataset, o);
  const auto h = whole_epoch(host, 0), d = whole_epoch(device, 0);
  ASSERT_EQ(h.size(), d.size());
  for (size_t i = 0; i < h.size(); ++i)
    for (size_t m = 0; m < 2; ++m) {
      EXPECT_EQ(d[i].inputs[m].device(), Device::CUDA);
      EXPECT_TRUE(same_bits(d[i].inputs[m].to(Device::CPU), h[i].inputs[m]));
      EXPECT_TRUE(same_bits(d[i].labels[m].to(Device::CPU), h[i].labels[m]));
      EXPECT_TRUE(same_bits(d[i].label_maps[m].to(Device::CPU), h[i].label_maps[m]));
    }
  EXPECT_TRUE(d[0].labels[1].same_as(d[0].labels[0])) << "shared host tensors stay shared on the device";
}

}  // namespace
}  // namespace xmkd
