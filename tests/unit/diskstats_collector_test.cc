#include "collectors/diskstats_collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>

#include "prometheus/text_serializer.h"

namespace diskidle {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;
using ::testing::UnorderedElementsAre;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(DISKIDLE_TESTDATA_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A temporary directory standing in for /proc; removed even when a test fails.
class FakeProcfs {
 public:
  FakeProcfs() {
    char dir_template[] = "/tmp/diskidle-diskstats-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  ~FakeProcfs() {
    std::remove((dir_ + "/diskstats").c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text) {
    std::string tmp = dir_ + "/diskstats.tmp";
    { std::ofstream(tmp) << text; }
    std::rename(tmp.c_str(), (dir_ + "/diskstats").c_str());
  }
  void WriteTestdata(const std::string& name) { Write(ReadTestdata(name)); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string Label(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "<none>";
}

// The value of `family`{device=...}, or nullopt when absent. Compare it with
// Optional(...): a missing series then fails, naming the call (family and
// device) in the message, instead of reading as 0 or crashing.
std::optional<double> Value(const std::vector<prometheus::MetricFamily>& families,
                            const std::string& family, const std::string& device) {
  const prometheus::MetricFamily* f = Find(families, family);
  if (f == nullptr) return std::nullopt;
  for (const auto& m : f->metric) {
    if (Label(m, "device") != device) continue;
    return f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return std::nullopt;
}

std::set<std::string> Devices(const std::vector<prometheus::MetricFamily>& families,
                              const std::string& family) {
  std::set<std::string> devices;
  if (const prometheus::MetricFamily* f = Find(families, family)) {
    for (const auto& m : f->metric) devices.insert(Label(m, "device"));
  }
  return devices;
}

std::set<std::string> FamilyNames(const std::vector<prometheus::MetricFamily>& families) {
  std::set<std::string> names;
  for (const auto& f : families) names.insert(f.name);
  return names;
}

TEST(DiskstatsCollectorTest, ExportsWholeDisksInBaseUnits) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_20fields.txt");
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), nullptr);
  EXPECT_EQ(collector.Name(), "diskstats");
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());

  // Default exclude drops partitions and zram; loop, nvme, dm and sr disks stay.
  EXPECT_THAT(Devices(out, "diskidle_disk_reads_completed_total"),
              UnorderedElementsAre("loop0", "loop1", "loop3", "nvme0n1", "sda", "dm-0", "sr0"));

  EXPECT_THAT(Value(out, "diskidle_disk_reads_completed_total", "sda"), Optional(DoubleEq(88123)));
  EXPECT_THAT(Value(out, "diskidle_disk_reads_merged_total", "sda"), Optional(DoubleEq(3211)));
  EXPECT_THAT(Value(out, "diskidle_disk_read_bytes_total", "sda"),
              Optional(DoubleEq(12045876.0 * 512)));
  EXPECT_THAT(Value(out, "diskidle_disk_read_time_seconds_total", "sda"),
              Optional(DoubleEq(51.234)));
  EXPECT_THAT(Value(out, "diskidle_disk_writes_completed_total", "sda"),
              Optional(DoubleEq(211984)));
  EXPECT_THAT(Value(out, "diskidle_disk_writes_merged_total", "sda"), Optional(DoubleEq(99412)));
  EXPECT_THAT(Value(out, "diskidle_disk_written_bytes_total", "sda"),
              Optional(DoubleEq(28412560.0 * 512)));
  EXPECT_THAT(Value(out, "diskidle_disk_write_time_seconds_total", "sda"),
              Optional(DoubleEq(812.34)));
  EXPECT_THAT(Value(out, "diskidle_disk_io_now", "sda"), Optional(DoubleEq(2)));
  EXPECT_THAT(Value(out, "diskidle_disk_io_time_seconds_total", "sda"),
              Optional(DoubleEq(301.122)));
  EXPECT_THAT(Value(out, "diskidle_disk_io_time_weighted_seconds_total", "sda"),
              Optional(DoubleEq(921.455)));
  EXPECT_THAT(Value(out, "diskidle_disk_discards_completed_total", "nvme0n1"),
              Optional(DoubleEq(41234)));
  EXPECT_THAT(Value(out, "diskidle_disk_discards_merged_total", "nvme0n1"), Optional(DoubleEq(0)));
  EXPECT_THAT(Value(out, "diskidle_disk_discarded_sectors_total", "nvme0n1"),
              Optional(DoubleEq(961733120)));
  EXPECT_THAT(Value(out, "diskidle_disk_discard_time_seconds_total", "nvme0n1"),
              Optional(DoubleEq(2.011)));
  // The fsync-storm signature on loop3: many flushes, almost nothing written.
  EXPECT_THAT(Value(out, "diskidle_disk_flush_requests_total", "loop3"), Optional(DoubleEq(75190)));
  EXPECT_THAT(Value(out, "diskidle_disk_flush_requests_time_seconds_total", "loop3"),
              Optional(DoubleEq(97.53)));
  EXPECT_THAT(Value(out, "diskidle_disk_written_bytes_total", "loop3"),
              Optional(DoubleEq(24 * 512)));

  const prometheus::MetricFamily* info = Find(out, "diskidle_disk_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->type, prometheus::MetricType::Gauge);
  bool saw_nvme = false;
  for (const auto& m : info->metric) {
    EXPECT_EQ(m.gauge.value, 1);
    if (Label(m, "device") == "nvme0n1") {
      saw_nvme = true;
      EXPECT_EQ(Label(m, "major"), "259");
      EXPECT_EQ(Label(m, "minor"), "0");
    }
  }
  EXPECT_TRUE(saw_nvme);

  // No sampler: no utilization family at all.
  EXPECT_EQ(Find(out, "diskidle_disk_utilization_ratio"), nullptr);
}

TEST(DiskstatsCollectorTest, FamiliesAreWellFormed) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_20fields.txt");
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  EXPECT_EQ(out.size(), 18u);  // 16 counters + io_now + info
  for (const auto& f : out) {
    EXPECT_THAT(f.name, testing::StartsWith("diskidle_disk_"));
    EXPECT_FALSE(f.help.empty()) << f.name;
    bool counter = f.type == prometheus::MetricType::Counter;
    EXPECT_EQ(counter, f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total") << f.name;
    // A help text says its unit when the name has one.
    if (f.name.find("seconds") != std::string::npos) {
      EXPECT_THAT(f.help, HasSubstr("econds")) << f.name;
    }
    if (f.name.find("bytes") != std::string::npos) {
      EXPECT_THAT(f.help, HasSubstr("Bytes"));
    }
  }
  std::string text = prometheus::TextSerializer().Serialize(out);
  EXPECT_THAT(text, HasSubstr("# TYPE diskidle_disk_written_bytes_total counter\n"));
  EXPECT_THAT(text, HasSubstr("diskidle_disk_flush_requests_total{device=\"loop3\"} 75190\n"));
  EXPECT_THAT(text, HasSubstr("diskidle_disk_info{device=\"dm-0\",major=\"253\",minor=\"0\"} 1\n"));
}

TEST(DiskstatsCollectorTest, FourteenFieldKernelHasNoDiscardOrFlushFamilies) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_14fields.txt");
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  std::set<std::string> names = FamilyNames(out);
  EXPECT_THAT(names, Not(testing::Contains(HasSubstr("discard"))));
  EXPECT_THAT(names, Not(testing::Contains(HasSubstr("flush"))));
  EXPECT_THAT(Devices(out, "diskidle_disk_io_time_seconds_total"),
              UnorderedElementsAre("sda", "dm-0"));
}

TEST(DiskstatsCollectorTest, EighteenFieldKernelHasDiscardsButNoFlushes) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_18fields.txt");
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  std::set<std::string> names = FamilyNames(out);
  EXPECT_TRUE(names.count("diskidle_disk_discards_completed_total"));
  EXPECT_THAT(Value(out, "diskidle_disk_discard_time_seconds_total", "dm-0"),
              Optional(DoubleEq(0.011)));
  EXPECT_THAT(names, Not(testing::Contains(HasSubstr("flush"))));
}

TEST(DiskstatsCollectorTest, IncludeAndExcludeMatchWholeNames) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_20fields.txt");
  DiskstatsCollectorConfig config;
  config.device_include = "loop\\d+|sda";
  config.device_exclude = "loop1";
  DiskstatsCollector collector(config, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  // "sda" does not select sda1 (full match), "loop1" excludes only loop1.
  EXPECT_THAT(Devices(out, "diskidle_disk_info"), UnorderedElementsAre("loop0", "loop3", "sda"));

  DiskstatsCollectorConfig everything;
  everything.device_exclude = "";
  DiskstatsCollector all(everything, procfs.dir(), nullptr);
  out.clear();
  ASSERT_TRUE(all.Collect(out).ok());
  EXPECT_EQ(Devices(out, "diskidle_disk_info").size(), 11u);
}

TEST(DiskstatsCollectorTest, MissingFileFailsNamingIt) {
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, "/nonexistent-procfs", nullptr);
  std::vector<prometheus::MetricFamily> out;
  absl::Status status = collector.Collect(out);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("/nonexistent-procfs/diskstats"));
  EXPECT_THAT(out, IsEmpty());
}

TEST(DiskstatsCollectorTest, MalformedLinesFailTheCollectorButGoodLinesExport) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_malformed.txt");
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  absl::Status status = collector.Collect(out);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(std::string(status.message()),
            procfs.dir() +
                "/diskstats: line 3: expected 14, 18 or 20 fields, got 4 (and 2 more bad lines)");
  EXPECT_THAT(Devices(out, "diskidle_disk_reads_completed_total"),
              UnorderedElementsAre("sda", "loop1"));
}

TEST(DiskstatsCollectorTest, BadRegexFromCodeFailsInsteadOfThrowing) {
  FakeProcfs procfs;
  procfs.WriteTestdata("diskstats_20fields.txt");
  DiskstatsCollectorConfig config;
  config.device_include = "(unclosed";
  DiskstatsCollector collector(config, procfs.dir(), nullptr);
  std::vector<prometheus::MetricFamily> out;
  absl::Status status = collector.Collect(out);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("device regex"));
}

TEST(DiskstatsCollectorTest, UtilizationOnlyForSelectedDevices) {
  FakeProcfs procfs;
  auto write = [&](uint64_t ticks) {
    std::string text;
    for (const char* name : {"sda", "sda1", "loop0"}) {
      text += std::string("8 0 ") + name + " 1 0 8 1 1 0 8 1 0 " + std::to_string(ticks) +
              " 2 0 0 0 0 0 0\n";
    }
    procfs.Write(text);
  };
  // A fake clock and explicit samples: no sampler thread to race.
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  UtilizationSampler sampler(procfs.dir(), absl::Seconds(10), [&now] { return now; });
  write(0);
  ASSERT_TRUE(sampler.SampleOnce().ok());
  now += absl::Seconds(1);
  write(1'000'000);  // saturated: clamped to 1
  ASSERT_TRUE(sampler.SampleOnce().ok());
  DiskstatsCollector collector(DiskstatsCollectorConfig{}, procfs.dir(), &sampler);
  std::vector<prometheus::MetricFamily> out;
  ASSERT_TRUE(collector.Collect(out).ok());
  const prometheus::MetricFamily* util = Find(out, "diskidle_disk_utilization_ratio");
  ASSERT_NE(util, nullptr);
  EXPECT_EQ(util->type, prometheus::MetricType::Gauge);
  EXPECT_THAT(Devices(out, "diskidle_disk_utilization_ratio"),
              UnorderedElementsAre("sda", "loop0"));
  EXPECT_THAT(Value(out, "diskidle_disk_utilization_ratio", "loop0"), Optional(DoubleEq(1.0)));
}

}  // namespace
}  // namespace diskidle
