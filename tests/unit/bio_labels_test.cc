#include "model/bio_labels.h"

#include <linux/types.h>

#include "bio_stats.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

TEST(BioLabels, OpNames) {
  EXPECT_EQ(OpName(DISKIDLE_OP_READ), "read");
  EXPECT_EQ(OpName(DISKIDLE_OP_WRITE), "write");
  EXPECT_EQ(OpName(DISKIDLE_OP_FLUSH), "flush");
  EXPECT_EQ(OpName(DISKIDLE_OP_DISCARD), "discard");
  EXPECT_EQ(OpName(DISKIDLE_OP_WRITE_ZEROES), "write_zeroes");
  EXPECT_EQ(OpName(DISKIDLE_OP_OTHER), "other");
  EXPECT_EQ(OpName(200), "other");
}

TEST(BioLabels, KernelBucketsMatchTheBpfProgram) {
  // Same rule as size_bucket() in bio_stats.bpf.c: 0 -> 0, else 1 + ceil(log2).
  EXPECT_EQ(KernelBucketOf(0), 0);
  EXPECT_EQ(KernelBucketOf(1), 1);
  EXPECT_EQ(KernelBucketOf(2), 2);
  EXPECT_EQ(KernelBucketOf(3), 3);
  EXPECT_EQ(KernelBucketOf(512), 10);
  EXPECT_EQ(KernelBucketOf(513), 11);
  EXPECT_EQ(KernelBucketOf(4096), 13);
  EXPECT_EQ(KernelBucketOf(4097), 14);
  EXPECT_EQ(KernelBucketOf(uint64_t{1} << 31), 32);
  EXPECT_EQ(KernelBucketOf((uint64_t{1} << 31) + 1), 33);
  EXPECT_EQ(KernelBucketOf(UINT32_MAX), 33);
  EXPECT_LT(KernelBucketOf(UINT32_MAX), DISKIDLE_SIZE_BUCKETS);
}

TEST(BioLabels, UpperBoundIsTheLargestSizeOfABucket) {
  for (uint64_t bytes : {0ull, 1ull, 2ull, 3ull, 511ull, 512ull, 513ull, 4096ull, 65535ull,
                         65536ull, 1048577ull, 4294967295ull}) {
    int bucket = KernelBucketOf(bytes);
    EXPECT_LE(bytes, KernelBucketUpperBound(bucket)) << bytes;
    if (bucket > 0) {
      EXPECT_GT(bytes, KernelBucketUpperBound(bucket - 1)) << bytes;
    }
  }
}

TEST(BioLabels, ConfiguredBoundsCoverExactlyTheirKernelBuckets) {
  std::vector<uint64_t> bounds = {0, 512, 4096, 16384, 65536, 262144, 1048576};
  std::vector<int> last = LastKernelBucketPerBound(bounds);
  ASSERT_EQ(last.size(), bounds.size());
  for (size_t i = 0; i < bounds.size(); ++i) {
    EXPECT_EQ(KernelBucketUpperBound(last[i]), bounds[i]);
    EXPECT_EQ(last[i], KernelBucketOf(bounds[i]));
  }
}

}  // namespace
}  // namespace diskidle
