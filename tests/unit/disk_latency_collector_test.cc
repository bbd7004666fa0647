#include "collectors/disk_latency_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

namespace diskidle {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

class FakeLatencyMaps : public LatencyMaps {
 public:
  absl::StatusOr<LatencySnapshot> Snapshot() override { return snapshot; }
  absl::Status Forget(const std::vector<uint32_t>& devs) override {
    std::erase_if(snapshot.histograms, [&devs](const LatencyHistogram& h) {
      return std::find(devs.begin(), devs.end(), h.dev) != devs.end();
    });
    forgotten.insert(forgotten.end(), devs.begin(), devs.end());
    return absl::OkStatus();
  }
  LatencySnapshot snapshot;
  std::vector<uint32_t> forgotten;
};

// A temporary directory standing in for /proc with one diskstats file.
class FakeProcfs {
 public:
  explicit FakeProcfs(const std::string& diskstats) {
    char dir_template[] = "/tmp/diskidle-latency-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    std::ofstream(dir_ + "/diskstats") << diskstats;
  }
  ~FakeProcfs() {
    std::remove((dir_ + "/diskstats").c_str());
    rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

constexpr char kDiskstats[] =
    "   7       0 loop0 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 3 0\n"
    " 259       0 nvme0n1 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 3 0\n"
    " 259       1 nvme0n1p1 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 0 0\n";

constexpr uint32_t Dev(uint32_t major, uint32_t minor) { return major << 20 | minor; }

LatencyHistogram Histogram(uint32_t dev, uint32_t op, int bucket, uint64_t n, uint64_t sum_ns) {
  LatencyHistogram h;
  h.dev = dev;
  h.op = op;
  h.buckets[bucket] = n;
  h.sum_ns = sum_ns;
  return h;
}

const prometheus::ClientMetric* Series(const std::vector<prometheus::MetricFamily>& families,
                                       const std::string& device, const std::string& op) {
  for (const auto& f : families) {
    if (f.name != "diskidle_disk_request_duration_seconds") continue;
    EXPECT_EQ(f.type, prometheus::MetricType::Histogram);
    for (const auto& m : f.metric) {
      if (m.label.size() == 2 && m.label[0].value == device && m.label[1].value == op) return &m;
    }
  }
  return nullptr;
}

std::optional<uint64_t> Count(const std::vector<prometheus::MetricFamily>& families,
                              const std::string& device, const std::string& op) {
  const prometheus::ClientMetric* m = Series(families, device, op);
  if (m == nullptr) return std::nullopt;
  return m->histogram.sample_count;
}

TEST(DiskLatencyCollectorTest, OneHistogramPerDiskAndOpWithItsKernelCounts) {
  FakeProcfs procfs(kDiskstats);
  FakeLatencyMaps maps;
  maps.snapshot.histograms = {
      Histogram(Dev(7, 0), DISKIDLE_LAT_FLUSH, 6, 5, 250'000),   // 5 flushes of (32, 64] us
      Histogram(Dev(7, 0), DISKIDLE_LAT_WRITE, 10, 2, 1'800'000),  // 2 writes of (0.5, 1] ms
  };
  DiskLatencyCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), &maps);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());

  EXPECT_THAT(Count(out, "loop0", "flush"), Optional(5u));
  EXPECT_THAT(Count(out, "loop0", "write"), Optional(2u));
  // Ops without requests are there at 0, so their first request is an increase.
  EXPECT_THAT(Count(out, "loop0", "read"), Optional(0u));
  EXPECT_THAT(Count(out, "loop0", "discard"), Optional(0u));
  EXPECT_EQ(Count(out, "nvme0n1", "read"), std::nullopt);  // no request seen on it

  const prometheus::ClientMetric* flush = Series(out, "loop0", "flush");
  ASSERT_NE(flush, nullptr);
  EXPECT_THAT(flush->histogram.sample_sum, DoubleEq(250e-6));
  // Cumulative: 0 up to 32 us, 5 from 64 us on, and the +Inf bucket.
  for (const auto& bucket : flush->histogram.bucket) {
    uint64_t want = bucket.upper_bound < 64e-6 ? 0 : 5;
    EXPECT_EQ(bucket.cumulative_count, want) << "le=" << bucket.upper_bound;
  }
  EXPECT_TRUE(std::isinf(flush->histogram.bucket.back().upper_bound));
}

TEST(DiskLatencyCollectorTest, DevicesFollowTheDiskstatsFilterAndUnknownOnesAreNamed) {
  FakeProcfs procfs(kDiskstats);
  FakeLatencyMaps maps;
  maps.snapshot.histograms = {
      Histogram(Dev(7, 0), DISKIDLE_LAT_READ, 3, 1, 5'000),
      Histogram(Dev(259, 0), DISKIDLE_LAT_READ, 3, 1, 5'000),
      Histogram(Dev(8, 16), DISKIDLE_LAT_READ, 3, 1, 5'000),  // not in diskstats
  };
  DiskstatsCollectorConfig filter;
  filter.device_exclude = "loop\\d+";
  DiskLatencyCollector collector(filter, procfs.dir(), &maps);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_EQ(Count(out, "loop0", "read"), std::nullopt);
  EXPECT_THAT(Count(out, "nvme0n1", "read"), Optional(1u));
  EXPECT_THAT(Count(out, "unknown:8:16", "read"), Optional(1u));

  filter.device_exclude = "";
  filter.device_include = "loop\\d+";
  collector.SetDeviceFilter(filter);
  out.clear();
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_THAT(Count(out, "loop0", "read"), Optional(1u));
  EXPECT_EQ(Count(out, "nvme0n1", "read"), std::nullopt);
}

TEST(DiskLatencyCollectorTest, ARemovedDiskLeavesTheKernelMapAfterTheTtl) {
  FakeLatencyMaps maps;
  maps.snapshot.histograms = {Histogram(Dev(7, 0), DISKIDLE_LAT_READ, 6, 5, 250'000),
                              Histogram(Dev(259, 0), DISKIDLE_LAT_READ, 6, 1, 50'000)};
  FakeProcfs procfs(kDiskstats);
  DiskLatencyCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), &maps);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_THAT(Count(out, "loop0", "read"), Optional(5u));

  // loop0 detached; the default TTL (5 minutes) keeps it.
  std::ofstream(procfs.dir() + "/diskstats", std::ios::trunc)
      << " 259       0 nvme0n1 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 3 0\n"
      << " 259       1 nvme0n1p1 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 0 0\n";
  out.clear();
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_THAT(Count(out, "loop0", "read"), Optional(5u));
  EXPECT_THAT(maps.forgotten, IsEmpty());

  collector.SetRemovedDiskTtl(absl::ZeroDuration());
  out.clear();
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_THAT(maps.forgotten, ElementsAre(Dev(7, 0)));
  EXPECT_EQ(Count(out, "loop0", "read"), std::nullopt);
  EXPECT_THAT(Count(out, "nvme0n1", "read"), Optional(1u));
}

TEST(DiskLatencyCollectorTest, ExportsTheKernelEventCounters) {
  FakeProcfs procfs(kDiskstats);
  FakeLatencyMaps maps;
  maps.snapshot.events[DISKIDLE_LAT_DROP_MAP_FULL] = 3;
  maps.snapshot.events[DISKIDLE_LAT_FROM_ALLOC] = 7;
  DiskLatencyCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), &maps);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  std::optional<double> dropped, from_alloc;
  for (const auto& f : out) {
    if (f.name == "diskidle_disk_request_duration_dropped_total") dropped = f.metric.at(0).counter.value;
    if (f.name == "diskidle_disk_request_duration_from_allocation_total") {
      from_alloc = f.metric.at(0).counter.value;
    }
  }
  EXPECT_THAT(dropped, Optional(DoubleEq(3)));
  EXPECT_THAT(from_alloc, Optional(DoubleEq(7)));
}

TEST(DiskLatencyCollectorTest, ABadRegexFailsTheCollector) {
  FakeProcfs procfs(kDiskstats);
  FakeLatencyMaps maps;
  DiskstatsCollectorConfig filter;
  filter.device_include = "(";
  DiskLatencyCollector collector(filter, procfs.dir(), &maps);
  std::vector<prometheus::MetricFamily> out;
  EXPECT_FALSE(collector.Collect(out).ok());
}

}  // namespace
}  // namespace diskidle
