// The syscall collector's user-space logic: the ledger's change-based counting
// over syscall entries, and the exposition of the three families from a fake
// snapshot of the kernel maps.
#include "collectors/syscall_collector.h"

#include <linux/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collectors/syscall_ledger.h"
#include "config/config.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kLoop3 = (7 << 20) | 3;
constexpr int32_t kWrite = 1, kPwrite = 18, kFsync = 74;  // x86_64 numbers
constexpr uint64_t kBoundsNs[] = DISKIDLE_SYSCALL_DURATION_BOUNDS_NS;

class FakeMaps : public SyscallMaps {
 public:
  absl::StatusOr<SyscallSnapshot> Snapshot() override { return snapshot; }
  absl::Status Forget(const std::vector<ProcessId>& ids) override {
    for (const ProcessId& id : ids) {
      std::erase_if(snapshot.counts, [&id](const SyscallCount& c) {
        return ProcessId{c.key.tgid, c.key.start_boottime_ns} == id;
      });
      snapshot.comms.erase(id);
    }
    return absl::OkStatus();
  }
  // Adds `calls` calls of `ns` each (and, for writes, of `bytes_each` bytes)
  // to the entry of (tgid, dev, nr), as the BPF program does.
  void Add(uint32_t tgid, uint32_t dev, int32_t nr, uint64_t calls, uint64_t ns,
           int64_t ret_each) {
    SyscallCount* entry = nullptr;
    for (SyscallCount& c : snapshot.counts) {
      if (c.key.tgid == tgid && c.key.dev == dev && c.key.syscall_nr == nr) entry = &c;
    }
    if (entry == nullptr) {
      SyscallCount c;
      c.key.tgid = tgid;
      c.key.start_boottime_ns = 1'000'000'000;
      c.key.dev = dev;
      c.key.syscall_nr = nr;
      snapshot.counts.push_back(c);
      entry = &snapshot.counts.back();
      snapshot.comms[{tgid, c.key.start_boottime_ns}] = absl::StrCat("proc", tgid);
    }
    size_t bucket = 0;
    while (bucket < DISKIDLE_SYSCALL_DURATION_BOUNDS && ns > kBoundsNs[bucket]) ++bucket;
    SyscallCounts& counts = entry->counts;
    counts.duration_buckets[bucket] += calls;
    counts.duration_ns += calls * ns;
    if (ret_each < 0) {
      counts.errors += calls;
    } else if (nr == kWrite || nr == kPwrite) {
      size_t size_bucket = ret_each <= 1 ? ret_each : 64 - __builtin_clzll(ret_each - 1) + 1;
      counts.size_buckets[size_bucket] += calls;
      counts.bytes += calls * ret_each;
    }
  }
  SyscallSnapshot snapshot;
};

// "name{labels}" -> value, of every sample in exposition text.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    size_t space = line.rfind(' ');
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

class SyscallCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    procfs_ = fs::temp_directory_path() / ("diskidle-syscall-test-" + std::to_string(getpid()));
    fs::create_directories(procfs_);
    std::ofstream(procfs_ / "diskstats")
        << "   7       3 loop3 10 0 80 1 500 0 0 400 0 300 400 0 0 0 0 480 290\n";
  }
  void TearDown() override { fs::remove_all(procfs_); }

  std::map<std::string, double> Scrape(SyscallCollector& collector) {
    std::vector<prometheus::MetricFamily> families;
    EXPECT_TRUE(collector.Collect(families).ok());
    std::string text;
    EXPECT_TRUE(collector.CollectText(text).ok());
    last_text_ = text;
    return Samples(text);
  }

  fs::path procfs_;
  std::string last_text_;
  FakeMaps maps_;
  const std::vector<uint64_t> size_bounds_ = {0, 512, 4096, 16384};
};

TEST(SyscallDurationLeTest, MatchesTheKernelBoundsInSeconds) {
  ASSERT_EQ(SyscallDurationLe().size(), static_cast<size_t>(DISKIDLE_SYSCALL_DURATION_BOUNDS));
  for (size_t i = 0; i < SyscallDurationLe().size(); ++i) {
    double seconds = 0;
    std::string_view le = SyscallDurationLe()[i];
    ASSERT_TRUE(absl::SimpleAtod(absl::string_view(le.data(), le.size()), &seconds));
    EXPECT_DOUBLE_EQ(seconds * 1e9, static_cast<double>(kBoundsNs[i])) << i;
  }
}

TEST_F(SyscallCollectorTest, ExposesCallsSizesAndErrorsPerProcess) {
  SyscallCollectorConfig config;
  SyscallCollector collector(config, size_bounds_, procfs_.string(), &maps_);
  maps_.Add(100, kLoop3, kFsync, 500, 2'000'000, 0);  // 2 ms each
  maps_.Add(100, kLoop3, kWrite, 200, 3'000, 0);      // zero-byte writes
  maps_.Add(100, kLoop3, kPwrite, 100, 20'000, 4096);
  maps_.Add(100, kLoop3, kPwrite, 3, 700, -9);  // EBADF
  maps_.Add(100, 0, kWrite, 2, 500, 12);        // to a pipe: no device label
  auto s = Scrape(collector);
  const std::string fsync = "comm=\"proc100\",device=\"loop3\",pid=\"100\",syscall=\"fsync\"";
  const std::string write = "comm=\"proc100\",device=\"loop3\",pid=\"100\",syscall=\"write\"";
  const std::string pwrite = "comm=\"proc100\",device=\"loop3\",pid=\"100\",syscall=\"pwrite\"";
  const std::string pipe = "comm=\"proc100\",pid=\"100\",syscall=\"write\"";
  EXPECT_EQ(s.at("diskidle_syscall_duration_seconds_count{" + fsync + "}"), 500);
  EXPECT_DOUBLE_EQ(s.at("diskidle_syscall_duration_seconds_sum{" + fsync + "}"), 1.0);
  EXPECT_EQ(s.at("diskidle_syscall_duration_seconds_bucket{" + fsync + ",le=\"0.001\"}"), 0);
  EXPECT_EQ(s.at("diskidle_syscall_duration_seconds_bucket{" + fsync + ",le=\"0.005\"}"), 500);
  EXPECT_EQ(s.at("diskidle_syscall_duration_seconds_bucket{" + fsync + ",le=\"+Inf\"}"), 500);
  // Sync calls have no size histogram; writes do.
  EXPECT_EQ(s.count("diskidle_syscall_write_bytes_count{" + fsync + "}"), 0u);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_bucket{" + write + ",le=\"0\"}"), 200);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_count{" + write + "}"), 200);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_bucket{" + pwrite + ",le=\"512\"}"), 0);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_bucket{" + pwrite + ",le=\"4096\"}"), 100);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_sum{" + pwrite + "}"), 409600);
  // Failed calls are calls and errors, not writes.
  EXPECT_EQ(s.at("diskidle_syscall_duration_seconds_count{" + pwrite + "}"), 103);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_count{" + pwrite + "}"), 100);
  EXPECT_EQ(s.at("diskidle_syscall_errors_total{" + pwrite + "}"), 3);
  EXPECT_EQ(s.at("diskidle_syscall_errors_total{" + fsync + "}"), 0);
  EXPECT_EQ(s.at("diskidle_syscall_write_bytes_sum{" + pipe + "}"), 24);
}

TEST_F(SyscallCollectorTest, CountsOnlyWhatHappenedSinceTheLastScrape) {
  SyscallCollectorConfig config;
  SyscallCollector collector(config, size_bounds_, procfs_.string(), &maps_);
  maps_.Add(100, kLoop3, kFsync, 10, 2'000'000, 0);
  const std::string fsync =
      "diskidle_syscall_duration_seconds_count{comm=\"proc100\",device=\"loop3\",pid=\"100\","
      "syscall=\"fsync\"}";
  EXPECT_EQ(Scrape(collector).at(fsync), 10);
  EXPECT_EQ(Scrape(collector).at(fsync), 10);  // nothing new: nothing added
  maps_.Add(100, kLoop3, kFsync, 5, 2'000'000, 0);
  EXPECT_EQ(Scrape(collector).at(fsync), 15);
  // The kernel entry removed and made anew (counts went down): its counts
  // are all new, the series keeps growing.
  maps_.snapshot.counts[0].counts = SyscallCounts{};
  maps_.Add(100, kLoop3, kFsync, 2, 2'000'000, 0);
  EXPECT_EQ(Scrape(collector).at(fsync), 17);
}

TEST_F(SyscallCollectorTest, ShowsAtMostMaxProcesses) {
  SyscallCollectorConfig config;
  config.max_processes = 1;
  SyscallCollector collector(config, size_bounds_, procfs_.string(), &maps_);
  maps_.Add(100, kLoop3, kFsync, 50, 2'000'000, 0);
  maps_.Add(200, kLoop3, kFsync, 5, 2'000'000, 0);
  auto s = Scrape(collector);
  std::set<std::string> pids;
  std::regex pid_re("pid=\"(\\d+)\"");
  for (const auto& [name, value] : s) {
    std::smatch m;
    if (std::regex_search(name, m, pid_re)) pids.insert(m[1]);
  }
  EXPECT_EQ(pids, std::set<std::string>{"100"});
}

// An idle process is looked up in <procfs>: alive (same start time) it keeps
// its series past the TTL; without a stat file, or with another start time
// (a reused pid), its series end after the TTL and its kernel entries go.
class SyscallLivenessTest : public SyscallCollectorTest {
 protected:
  void WriteStat(uint32_t pid, uint64_t start_ns) {
    const uint64_t tick_ns = 1'000'000'000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    fs::create_directories(procfs_ / std::to_string(pid));
    std::ofstream(procfs_ / std::to_string(pid) / "stat")
        << pid << " (proc) S 1 1 1 0 -1 4194304 0 0 0 0 7 3 0 0 20 0 1 0 " << start_ns / tick_ns
        << " 1000000 250 18446744073709551615 0 0 0 0\n";
  }
  // Three scrapes with unchanged counts and a TTL of 0: the first sees the
  // process counting, the next two ask procfs.
  std::map<std::string, double> ScrapeIdle() {
    maps_.Add(100, kLoop3, kFsync, 5, 2'000'000, 0);
    SyscallCollectorConfig config;
    config.exited_process_ttl = absl::ZeroDuration();
    SyscallCollector collector(config, size_bounds_, procfs_.string(), &maps_);
    std::map<std::string, double> s;
    for (int scrape = 0; scrape < 3; ++scrape) s = Scrape(collector);
    return s;
  }
  const std::string series_ =
      "diskidle_syscall_duration_seconds_count{comm=\"proc100\",device=\"loop3\",pid=\"100\","
      "syscall=\"fsync\"}";
};

TEST_F(SyscallLivenessTest, LiveIdleProcessKeepsItsSeries) {
  WriteStat(100, 1'000'000'000);
  auto s = ScrapeIdle();
  ASSERT_EQ(s.count(series_), 1u) << last_text_;
  EXPECT_EQ(s.at(series_), 5);
  EXPECT_EQ(maps_.snapshot.counts.size(), 1u);
}

TEST_F(SyscallLivenessTest, ExitedProcessLosesItsSeriesAndKernelEntries) {
  auto s = ScrapeIdle();  // no <procfs>/100/stat
  EXPECT_EQ(s.count(series_), 0u) << last_text_;
  EXPECT_TRUE(maps_.snapshot.counts.empty());
}

TEST_F(SyscallLivenessTest, ReusedPidEndsTheOldProcessSeries) {
  WriteStat(100, 9'000'000'000);  // another process now has pid 100
  auto s = ScrapeIdle();
  EXPECT_EQ(s.count(series_), 0u) << last_text_;
  EXPECT_TRUE(maps_.snapshot.counts.empty());
}

TEST(SyscallConfigTest, OffByDefaultAndParsed) {
  EXPECT_FALSE(Config{}.collectors.syscalls.enabled);
  auto config = ParseConfig(
      "collectors:\n  syscalls:\n    enabled: true\n    max_processes: 7\n"
      "    exited_process_ttl: 30s\n    map_entries: 1024\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->collectors.syscalls.enabled);
  EXPECT_EQ(config->collectors.syscalls.max_processes, 7);
  EXPECT_EQ(config->collectors.syscalls.exited_process_ttl, absl::Seconds(30));
  EXPECT_EQ(config->collectors.syscalls.map_entries, 1024u);
  EXPECT_FALSE(ParseConfig("collectors:\n  syscalls:\n    max_processes: 0\n").ok());
  auto restart = RestartOnlyKeyPaths();
  EXPECT_NE(std::find(restart.begin(), restart.end(), "collectors.syscalls.enabled"),
            restart.end());
}

}  // namespace
}  // namespace diskidle
