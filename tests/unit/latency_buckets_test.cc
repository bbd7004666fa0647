#include "model/latency_buckets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace diskidle {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr uint64_t kUs = 1000;  // ns

// The kernel's function (bpf/disk_latency.h, compiled here from the same
// header) at the edges it promises: bucket b holds (2^(b-1), 2^b] us.
TEST(LatencyBucketTest, EdgesAreWholeMicrosecondPowersOfTwo) {
  EXPECT_EQ(diskidle_latency_bucket(0), 0u);
  EXPECT_EQ(diskidle_latency_bucket(1), 0u);
  EXPECT_EQ(diskidle_latency_bucket(1 * kUs), 0u);
  EXPECT_EQ(diskidle_latency_bucket(1 * kUs + 1), 1u);
  EXPECT_EQ(diskidle_latency_bucket(2 * kUs), 1u);
  EXPECT_EQ(diskidle_latency_bucket(2 * kUs + 1), 2u);
  EXPECT_EQ(diskidle_latency_bucket(3 * kUs), 2u);
  EXPECT_EQ(diskidle_latency_bucket(4 * kUs), 2u);
  EXPECT_EQ(diskidle_latency_bucket(4 * kUs + 1), 3u);
  EXPECT_EQ(diskidle_latency_bucket(1000 * kUs), 10u);  // 1 ms: (512, 1024] us
}

TEST(LatencyBucketTest, LongDurationsLandInTheLastBucket) {
  const uint32_t last = DISKIDLE_LATENCY_BUCKETS - 1;
  EXPECT_EQ(diskidle_latency_bucket((uint64_t{1} << (last - 1)) * kUs), last - 1);
  EXPECT_EQ(diskidle_latency_bucket((uint64_t{1} << (last - 1)) * kUs + 1), last);
  EXPECT_EQ(diskidle_latency_bucket(uint64_t{3600} * 1000 * 1000 * kUs), last);  // an hour
  EXPECT_EQ(diskidle_latency_bucket(std::numeric_limits<uint64_t>::max()), last);
}

// Every exposed `le` is exact: a duration of exactly `le` seconds is counted
// at or below it, one nanosecond more above it.
TEST(LatencyBucketTest, EveryExposedBoundIsAKernelBucketEdge) {
  for (int b = kFirstLatencyBound; b <= kLastLatencyBound; ++b) {
    const double le = LatencyBucketUpperSeconds(b);
    const uint64_t le_ns = static_cast<uint64_t>(std::llround(le * 1e9));
    EXPECT_EQ(le_ns, (uint64_t{1} << b) * kUs) << "b=" << b;
    EXPECT_LE(diskidle_latency_bucket(le_ns), static_cast<uint32_t>(b)) << "le=" << le;
    EXPECT_GT(diskidle_latency_bucket(le_ns + 1), static_cast<uint32_t>(b)) << "le=" << le;
  }
  EXPECT_LT(kLastLatencyBound, DISKIDLE_LATENCY_BUCKETS - 1);  // +Inf keeps its own bucket
}

TEST(LatencyBucketTest, BoundsRunFrom4MicrosecondsTo16Seconds) {
  EXPECT_THAT(LatencyBucketUpperSeconds(kFirstLatencyBound), DoubleEq(4e-6));
  EXPECT_THAT(LatencyBucketUpperSeconds(kLastLatencyBound), DoubleEq(16.777216));
}

TEST(CumulativeLatencyBucketsTest, FoldsSmallBucketsIntoTheFirstBoundAndLargeIntoInf) {
  std::array<uint64_t, DISKIDLE_LATENCY_BUCKETS> buckets{};
  buckets[0] = 1;   // <= 1 us
  buckets[2] = 2;   // (2, 4] us
  buckets[3] = 4;   // (4, 8] us
  buckets[10] = 8;  // (512, 1024] us
  buckets[kLastLatencyBound + 1] = 16;  // above the last bound: +Inf only
  auto cumulative = CumulativeLatencyBuckets(buckets);
  ASSERT_EQ(cumulative.size(), static_cast<size_t>(kLastLatencyBound - kFirstLatencyBound + 1));
  EXPECT_THAT(cumulative[0], Pair(DoubleEq(4e-6), 3u));
  EXPECT_THAT(cumulative[1], Pair(DoubleEq(8e-6), 7u));
  EXPECT_THAT(cumulative[7], Pair(DoubleEq(512e-6), 7u));
  EXPECT_THAT(cumulative[8], Pair(DoubleEq(1024e-6), 15u));
  EXPECT_THAT(cumulative.back(), Pair(DoubleEq(16.777216), 15u));
}

TEST(LatencyOpNameTest, NamesTheFourOps) {
  EXPECT_EQ(LatencyOpName(DISKIDLE_LAT_READ), "read");
  EXPECT_EQ(LatencyOpName(DISKIDLE_LAT_WRITE), "write");
  EXPECT_EQ(LatencyOpName(DISKIDLE_LAT_FLUSH), "flush");
  EXPECT_EQ(LatencyOpName(DISKIDLE_LAT_DISCARD), "discard");
  EXPECT_EQ(LatencyOpName(DISKIDLE_LAT_OPS), "");
}

}  // namespace
}  // namespace diskidle
