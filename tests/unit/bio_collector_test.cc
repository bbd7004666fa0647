// Renders a fixed fake snapshot of the kernel maps into exposition text and
// compares it with a golden file (DISKIDLE_UPDATE_GOLDEN=1 rewrites it).
#include "collectors/bio_collector.h"

#include <linux/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace diskidle {
namespace {

namespace fs = std::filesystem;

class FakeMaps : public BioMaps {
 public:
  absl::StatusOr<BioSnapshot> Snapshot() override { return snapshot; }
  // Like the kernel maps: the processes' counts are gone from later snapshots.
  absl::Status Forget(const std::vector<ProcessId>& ids) override {
    forgotten.insert(forgotten.end(), ids.begin(), ids.end());
    for (const ProcessId& id : ids) {
      std::erase_if(snapshot.counts, [&id](const BioCount& c) {
        return ProcessId{c.key.tgid, c.key.start_boottime_ns} == id;
      });
      snapshot.comms.erase(id);
    }
    return absl::OkStatus();
  }
  BioSnapshot snapshot;
  std::vector<ProcessId> forgotten;
};

BioCount Count(uint32_t tgid, uint64_t start, uint32_t dev, int32_t syscall, uint8_t op,
               uint8_t bucket, uint64_t bios, uint64_t bytes) {
  BioCount c;
  c.key.tgid = tgid;
  c.key.start_boottime_ns = start;
  c.key.dev = dev;
  c.key.syscall_nr = syscall;
  c.key.op = op;
  c.key.size_bucket = bucket;
  c.bios = bios;
  c.bytes = bytes;
  return c;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class BioCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    procfs_ = fs::temp_directory_path() / ("diskidle-bio-test-" + std::to_string(getpid()));
    fs::create_directories(procfs_);
    std::ofstream(procfs_ / "diskstats")
        << "   7       3 loop3 10 0 80 1 500 0 0 400 0 300 400 0 0 0 0 480 290\n"
        << "   8       0 sda 1 2 3 4 5 6 7 8 0 10 11 0 0 0 0 0 0\n"
        << "   8       1 sda1 1 2 3 4 5 6 7 8 0 10 11 0 0 0 0 0 0\n";
  }
  void TearDown() override { fs::remove_all(procfs_); }

  // What a scrape serves: the families, then the text the collector writes itself.
  std::string Render(BioCollector& collector) {
    std::vector<prometheus::MetricFamily> families;
    EXPECT_TRUE(collector.Collect(families).ok());
    std::string text = prometheus::TextSerializer().Serialize(families);
    EXPECT_TRUE(collector.CollectText(text).ok());
    return text;
  }

  fs::path procfs_;
};

TEST_F(BioCollectorTest, RendersTheSnapshotAsTheGoldenExposition) {
  constexpr uint32_t kLoop3 = (7 << 20) | 3;
  constexpr uint32_t kSda = (8 << 20) | 0;
  constexpr uint32_t kGone = (259 << 20) | 9;
  FakeMaps maps;
  BioSnapshot& s = maps.snapshot;
  // java's fsync storm: 75,000 zero-byte flushes plus its 4 KiB data writes.
  s.counts.push_back(Count(4242, 111, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 75000, 0));
  s.counts.push_back(Count(4242, 111, kLoop3, 74, DISKIDLE_OP_WRITE, 13, 10, 40960));
  // Same pid, different syscall and a big direct write (bucket of 1 MiB).
  s.counts.push_back(Count(4242, 111, kLoop3, 18, DISKIDLE_OP_WRITE, 21, 2, 2097152));
  // A writeback kworker on sda, above the largest bound (4 MiB: +Inf only).
  s.counts.push_back(Count(77, 5, kSda, DISKIDLE_SYSCALL_KERNEL_THREAD, DISKIDLE_OP_WRITE, 23, 1,
                           4194304));
  // A device that is not in diskstats, and an unknown syscall.
  s.counts.push_back(Count(900, 7, kGone, 9999, DISKIDLE_OP_DISCARD, 0, 3, 0));
  s.comms[{4242, 111}] = "java";
  s.comms[{77, 5}] = "kworker/u8:2";
  s.comms[{900, 7}] = "fstrim \"quoted\"";
  s.drops = {2, 1};
  s.bio_map_capacity = 16384;
  s.process_map_capacity = 8192;
  s.process_map_entries = 3;
  s.program_name = "block_bio_queue_btf";
  s.program_run_time_ns = 1500000000;
  s.program_run_count = 12345;

  BioCollectorConfig config;  // default buckets and a long TTL: nothing expires here
  BioCollector collector(config, procfs_.string(), &maps);
  std::string text = Render(collector);

  fs::path golden = fs::path(DISKIDLE_TESTDATA_DIR) / "bio_collector.golden.prom";
  if (getenv("DISKIDLE_UPDATE_GOLDEN") != nullptr) std::ofstream(golden) << text;
  EXPECT_EQ(text, ReadFile(golden)) << "rendering changed; if intended, rerun with "
                                       "DISKIDLE_UPDATE_GOLDEN=1 and review the diff";
  EXPECT_TRUE(maps.forgotten.empty());
}

TEST_F(BioCollectorTest, CustomBucketsAreCumulativeAndExact) {
  FakeMaps maps;
  constexpr uint32_t kLoop3 = (7 << 20) | 3;
  // One bio in each of the kernel buckets 0 (0 B), 10 (512 B), 11 (1 KiB), 13 (4 KiB).
  for (uint8_t bucket : {0, 10, 11, 13}) {
    maps.snapshot.counts.push_back(Count(1, 1, kLoop3, 1, DISKIDLE_OP_WRITE, bucket, 1, 0));
  }
  BioCollectorConfig config;
  config.size_buckets_bytes = {0, 1024};
  BioCollector collector(config, procfs_.string(), &maps);
  std::string text = Render(collector);
  EXPECT_NE(text.find("le=\"0\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("le=\"1024\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("le=\"+Inf\"} 4\n"), std::string::npos) << text;
}

// Liveness: a process that stopped counting is looked up in <procfs>/<pid>/stat,
// and is alive only if its start time (field 22, in clock ticks) is the one
// the kernel recorded for it (start_boottime_ns). With a zero TTL, the series
// of a process found exited end at once, so the tests need no clock.
class BioCollectorLivenessTest : public BioCollectorTest {
 protected:
  static constexpr uint32_t kPid = 4242;
  static constexpr uint64_t kStartTicks = 123456;
  static constexpr uint32_t kLoop3 = (7 << 20) | 3;

  static uint64_t TickNs() { return 1'000'000'000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)); }
  // The kernel's start time is finer than a tick: any ns within the tick matches.
  static uint64_t StartNs() { return kStartTicks * TickNs() + TickNs() / 2; }

  void WriteStat(uint64_t start_ticks) {
    fs::create_directories(procfs_ / std::to_string(kPid));
    // Fields 3..24 of proc(5); field 22 is the start time.
    std::ofstream(procfs_ / std::to_string(kPid) / "stat")
        << kPid << " (java) S 1 1 1 0 -1 4194304 0 0 0 0 7 3 0 0 20 0 1 0 " << start_ticks
        << " 1000000 250 18446744073709551615 0 0 0 0\n";
  }

  // Three scrapes with unchanged counts: the first sees the process counting,
  // the next two look it up in procfs.
  std::string ScrapeIdleProcess() {
    maps_.snapshot.counts = {Count(kPid, StartNs(), kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 5, 0)};
    maps_.snapshot.comms[{kPid, StartNs()}] = "java";
    BioCollectorConfig config;
    config.exited_process_ttl = absl::ZeroDuration();
    BioCollector collector(config, procfs_.string(), &maps_);
    std::string text;
    for (int scrape = 0; scrape < 3; ++scrape) text = Render(collector);
    return text;
  }

  static constexpr char kOwnSeries[] =
      "diskidle_process_bios_total{comm=\"java\",device=\"loop3\",op=\"flush\",pid=\"4242\","
      "syscall=\"fsync\"} 5\n";
  static constexpr char kCompleteSeries[] =
      "diskidle_bio_size_bytes_count{comm=\"java\",device=\"loop3\",op=\"flush\","
      "syscall=\"fsync\"} 5\n";

  FakeMaps maps_;
};

TEST_F(BioCollectorLivenessTest, LiveIdleProcessKeepsItsSeriesPastTheTtl) {
  WriteStat(kStartTicks);
  std::string text = ScrapeIdleProcess();
  EXPECT_NE(text.find(kOwnSeries), std::string::npos) << text;
  EXPECT_NE(text.find(kCompleteSeries), std::string::npos) << text;
  EXPECT_NE(text.find("diskidle_tracked_processes 1\n"), std::string::npos) << text;
  EXPECT_TRUE(maps_.forgotten.empty()) << "a live process's kernel entries were removed";
}

TEST_F(BioCollectorLivenessTest, AnUnreadableStatIsAskedAgainNotTakenAsExit) {
  // A directory where the file should be: the read fails with EISDIR, which
  // says nothing about the process (like EMFILE or EACCES would not).
  fs::create_directories(procfs_ / std::to_string(kPid) / "stat");
  std::string text = ScrapeIdleProcess();
  EXPECT_NE(text.find(kOwnSeries), std::string::npos) << text;
  EXPECT_TRUE(maps_.forgotten.empty()) << "a live process's kernel entries were removed";
}

TEST_F(BioCollectorLivenessTest, ProcessWithoutStatHasExitedAndItsSeriesEnd) {
  std::string text = ScrapeIdleProcess();  // no <procfs>/4242/stat
  EXPECT_NE(text.find(kCompleteSeries), std::string::npos) << text;
  EXPECT_EQ(text.find("pid=\"4242\""), std::string::npos) << text;
  EXPECT_EQ(maps_.forgotten, (std::vector<ProcessId>{{kPid, StartNs()}}));
}

TEST_F(BioCollectorLivenessTest, ReusedPidWithAnotherStartTimeHasExited) {
  WriteStat(kStartTicks + 1);  // a new process got the PID one tick later
  std::string text = ScrapeIdleProcess();
  EXPECT_NE(text.find(kCompleteSeries), std::string::npos) << text;
  EXPECT_EQ(text.find("pid=\"4242\""), std::string::npos) << text;
  EXPECT_EQ(maps_.forgotten, (std::vector<ProcessId>{{kPid, StartNs()}}));
}

}  // namespace
}  // namespace diskidle
