// Renders a fixed fake snapshot of the kernel maps into exposition text and
// compares it with a golden file (DISKIDLE_UPDATE_GOLDEN=1 rewrites it).
#include "collectors/bio_collector.h"

#include <linux/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
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
  s.hook_programs = {{"jf_sync_btf", 250000000, 6000}, {"wb_folio_btf", 0, 0}};

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

// The thread label: bounded by max_threads with an "other" overflow, invalid
// UTF-8 escaped like comm, and absent unless a label set asks for it.
BioCount WithThread(BioCount count, std::string_view thread) {
  std::memcpy(count.key.thread, thread.data(), std::min(thread.size(), sizeof(count.key.thread)));
  return count;
}

TEST_F(BioCollectorTest, ThreadLabelIsBoundedAndSanitized) {
  constexpr uint32_t kLoop3 = (7 << 20) | 3;
  FakeMaps maps;
  BioSnapshot& s = maps.snapshot;
  s.counts.push_back(WithThread(Count(10, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 5, 0), "wal-writer"));
  // Cut by the kernel in the middle of a Cyrillic letter.
  s.counts.push_back(
      WithThread(Count(10, 1, kLoop3, 18, DISKIDLE_OP_WRITE, 13, 2, 8192), "\xd0\xbf\xd1"));
  s.counts.push_back(WithThread(Count(11, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 3, 0), "third"));
  s.comms[{10, 1}] = "postgres";
  s.comms[{11, 1}] = "java";
  BioCollectorConfig config;
  config.labels = {"device", "comm", "thread", "syscall", "op"};
  config.process_labels = {"pid", "thread"};
  config.max_threads = 2;
  BioCollector collector(config, procfs_.string(), &maps);
  std::string text = Render(collector);
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{comm=\"postgres\",device=\"loop3\","
                      "op=\"flush\",syscall=\"fsync\",thread=\"wal-writer\"} 5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{comm=\"postgres\",device=\"loop3\","
                      "op=\"write\",syscall=\"pwrite\",thread=\"\xd0\xbf\\\\xd1\"} 2\n"),
            std::string::npos)
      << text;
  // The third distinct name is beyond max_threads, in both views.
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{comm=\"java\",device=\"loop3\",op=\"flush\","
                      "syscall=\"fsync\",thread=\"other\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_process_bios_total{pid=\"11\",thread=\"other\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_process_bios_total{pid=\"10\",thread=\"wal-writer\"} 5\n"),
            std::string::npos)
      << text;

  // The same kernel entries without a thread label: none appears.
  BioCollector without(BioCollectorConfig{}, procfs_.string(), &maps);
  text = Render(without);
  EXPECT_EQ(text.find("thread="), std::string::npos) << text;
  EXPECT_NE(text.find("diskidle_process_bios_total{comm=\"postgres\",device=\"loop3\","
                      "op=\"flush\",pid=\"10\",syscall=\"fsync\"} 5\n"),
            std::string::npos)
      << text;
}

// A fake of kubernetes/pod_resolver.h: labels per cgroup id, and the calls.
struct FakeResolver {
  std::map<uint64_t, CgroupLabels> pods;
  std::vector<uint64_t> calls;
  uint64_t misses = 0;
  CgroupLabels Resolve(uint64_t id) {
    calls.push_back(id);
    auto it = pods.find(id);
    return it == pods.end() ? CgroupLabels{} : it->second;
  }
};

class BioCollectorPodTest : public BioCollectorTest {
 protected:
  static constexpr uint32_t kLoop3 = (7 << 20) | 3;
  static constexpr uint64_t kHostCgroup = 1;
  static constexpr uint64_t kWebCgroup = 5001;
  static constexpr uint64_t kWorkerCgroup = 5002;

  void SetUp() override {
    BioCollectorTest::SetUp();
    resolver_.pods[kWebCgroup] = {"shop", "web-7d9f-x2x", "nginx"};
    resolver_.pods[kWorkerCgroup] = {"shop", "web-7d9f-x2x", "log\nshipper"};
    resolver_.misses = 3;
  }
  BioCount In(uint64_t cgroup, BioCount count) {
    count.key.cgroup_id = cgroup;
    return count;
  }
  void Attach(BioCollector& collector) {
    collector.SetCgroupResolver([this](uint64_t id) { return resolver_.Resolve(id); },
                                [this] { return resolver_.misses; });
  }

  FakeMaps maps_;
  FakeResolver resolver_;
};

TEST_F(BioCollectorPodTest, PodLabelsComeFromTheResolverAtHousekeepingOnly) {
  BioSnapshot& s = maps_.snapshot;
  s.counts.push_back(In(kHostCgroup, Count(10, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 4, 0)));
  s.counts.push_back(In(kWebCgroup, Count(20, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 7, 0)));
  s.comms[{10, 1}] = "sshd";
  s.comms[{20, 1}] = "nginx";
  BioCollectorConfig config;
  config.labels = {"device", "namespace", "pod", "container", "syscall", "op"};
  BioCollector collector(config, procfs_.string(), &maps_);
  Attach(collector);

  // A scrape never resolves: a cgroup not seen by housekeeping waits.
  std::string text = Render(collector);
  EXPECT_TRUE(resolver_.calls.empty());
  EXPECT_EQ(text.find("diskidle_bio_size_bytes_count"), std::string::npos) << text;
  EXPECT_NE(text.find("diskidle_bpf_map_entries{map=\"bio_counts\"} 2\n"), std::string::npos)
      << text;

  // Housekeeping resolves each cgroup once, and nothing held back is lost.
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(resolver_.calls.size(), 2u);
  text = Render(collector);
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{container=\"nginx\",device=\"loop3\","
                      "namespace=\"shop\",op=\"flush\",pod=\"web-7d9f-x2x\",syscall=\"fsync\"} 7\n"),
            std::string::npos)
      << text;
  // A host process has no Kubernetes labels at all.
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{device=\"loop3\",op=\"flush\","
                      "syscall=\"fsync\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_cgroup_resolve_misses_total 3\n"), std::string::npos) << text;

  // Fixed at first sight: the cgroup is deleted (the resolver knows it no
  // more), its process counts on, and the labels stay; no new lookup.
  resolver_.pods.erase(kWebCgroup);
  s.counts[1].bios = 9;
  ASSERT_TRUE(collector.Housekeep().ok());
  text = Render(collector);
  EXPECT_EQ(resolver_.calls.size(), 2u);
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{container=\"nginx\",device=\"loop3\","
                      "namespace=\"shop\",op=\"flush\",pod=\"web-7d9f-x2x\",syscall=\"fsync\"} 9\n"),
            std::string::npos)
      << text;

  // A new cgroup whose first bios a scrape sees: held back, then counted whole.
  s.counts.push_back(In(kWorkerCgroup, Count(30, 1, kLoop3, 1, DISKIDLE_OP_WRITE, 13, 6, 24576)));
  s.comms[{30, 1}] = "fluent-bit";
  text = Render(collector);
  EXPECT_EQ(text.find("container=\"log"), std::string::npos) << text;
  ASSERT_TRUE(collector.Housekeep().ok());
  text = Render(collector);
  // Runtime state is file content: sanitized like any label value.
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{container=\"log\\\\x0ashipper\","
                      "device=\"loop3\",namespace=\"shop\",op=\"write\",pod=\"web-7d9f-x2x\","
                      "syscall=\"write\"} 6\n"),
            std::string::npos)
      << text;
}

// A Job dirties pages and finishes, its cgroup is deleted, and the flusher
// writes the pages back 30 s later: the labels were looked up when the kernel
// listed the dirtier's cgroup, while it still existed.
TEST_F(BioCollectorPodTest, WritebackAfterTheCgroupIsGoneKeepsTheDirtiersLabels) {
  BioSnapshot& s = maps_.snapshot;
  BioCollectorConfig config;
  config.labels = {"device", "namespace", "pod", "container", "syscall", "op"};
  BioCollector collector(config, procfs_.string(), &maps_);
  Attach(collector);

  // A scrape looks nothing up, even for a listed dirtier.
  s.dirtier_cgroups = {kWebCgroup};
  Render(collector);
  EXPECT_TRUE(resolver_.calls.empty());
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(resolver_.calls, std::vector<uint64_t>{kWebCgroup});
  // Listed again: no second look-up.
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(resolver_.calls.size(), 1u);

  // The cgroup is deleted, another dirtier took the slot, and the writeback
  // arrives: a scrape shows it at once, with the labels, and nothing is
  // looked up again.
  resolver_.pods.erase(kWebCgroup);
  s.dirtier_cgroups = {};
  s.counts.push_back(In(kWebCgroup, Count(20, 1, kLoop3, DISKIDLE_SYSCALL_WRITEBACK,
                                          DISKIDLE_OP_WRITE, 13, 8, 32768)));
  s.comms[{20, 1}] = "report-job";
  std::string text = Render(collector);
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{container=\"nginx\",device=\"loop3\","
                      "namespace=\"shop\",op=\"write\",pod=\"web-7d9f-x2x\","
                      "syscall=\"writeback\"} 8\n"),
            std::string::npos)
      << text;
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(resolver_.calls.size(), 1u);
}

// Ids out of the kernel's list are forgotten after exited_process_ttl, so the
// remembered labels stay as few as the recent dirtiers' cgroups.
TEST_F(BioCollectorPodTest, ADirtiersCgroupIsForgottenAfterTheTtl) {
  BioSnapshot& s = maps_.snapshot;
  BioCollectorConfig config;
  config.labels = {"device", "pod", "syscall", "op"};
  config.exited_process_ttl = absl::ZeroDuration();
  BioCollector collector(config, procfs_.string(), &maps_);
  Attach(collector);
  s.dirtier_cgroups = {kWebCgroup};
  ASSERT_TRUE(collector.Housekeep().ok());
  s.dirtier_cgroups = {};
  ASSERT_TRUE(collector.Housekeep().ok());  // out of the list: past a zero TTL
  resolver_.pods.erase(kWebCgroup);
  s.counts.push_back(In(kWebCgroup, Count(20, 1, kLoop3, DISKIDLE_SYSCALL_WRITEBACK,
                                          DISKIDLE_OP_WRITE, 13, 8, 32768)));
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(resolver_.calls, (std::vector<uint64_t>{kWebCgroup, kWebCgroup}));
  EXPECT_EQ(Render(collector).find("pod=\"web"), std::string::npos);
}

TEST_F(BioCollectorPodTest, PerProcessViewKeyedByPodSumsItsProcesses) {
  BioSnapshot& s = maps_.snapshot;
  s.counts.push_back(In(kWebCgroup, Count(20, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 7, 0)));
  s.counts.push_back(In(kWebCgroup, Count(21, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 5, 0)));
  s.counts.push_back(In(kHostCgroup, Count(10, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 4, 0)));
  BioCollectorConfig config;
  config.process_labels = {"device", "namespace", "pod", "syscall", "op"};
  BioCollector collector(config, procfs_.string(), &maps_);
  Attach(collector);
  ASSERT_TRUE(collector.Housekeep().ok());
  std::string text = Render(collector);
  EXPECT_NE(text.find("diskidle_process_bios_total{device=\"loop3\",namespace=\"shop\","
                      "op=\"flush\",pod=\"web-7d9f-x2x\",syscall=\"fsync\"} 12\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_process_bios_total{device=\"loop3\",op=\"flush\","
                      "syscall=\"fsync\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("pid="), std::string::npos) << text;
}

TEST_F(BioCollectorPodTest, APodKeyedSeriesEndsWithItsLastProcessNeverBefore) {
  BioSnapshot& s = maps_.snapshot;
  s.counts.push_back(In(kWebCgroup, Count(20, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 7, 0)));
  s.counts.push_back(In(kWebCgroup, Count(21, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 5, 0)));
  s.counts.push_back(In(kHostCgroup, Count(10, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 4, 0)));
  // Alive while <procfs>/<pid>/stat shows their start (1 ns: tick 0); with a
  // zero TTL, one whose stat is gone is forgotten at the next update.
  auto start = [this](uint32_t pid) {
    fs::create_directories(procfs_ / std::to_string(pid));
    std::ofstream(procfs_ / std::to_string(pid) / "stat")
        << pid << " (x) S 1 1 1 0 -1 4194304 0 0 0 0 7 3 0 0 20 0 1 0 0 1000000 250 0 0 0 0 0\n";
  };
  auto exit = [this](uint32_t pid) { fs::remove_all(procfs_ / std::to_string(pid)); };
  auto set_bios = [&s](uint32_t pid, uint64_t bios) {
    for (BioCount& c : s.counts) {
      if (c.key.tgid == pid) c.bios = bios;
    }
  };
  for (uint32_t pid : {10, 20, 21}) start(pid);
  BioCollectorConfig config;
  config.process_labels = {"device", "namespace", "pod", "syscall", "op"};
  config.exited_process_ttl = absl::ZeroDuration();
  BioCollector collector(config, procfs_.string(), &maps_);
  Attach(collector);
  ASSERT_TRUE(collector.Housekeep().ok());
  const std::string pod_series =
      "diskidle_process_bios_total{device=\"loop3\",namespace=\"shop\",op=\"flush\","
      "pod=\"web-7d9f-x2x\",syscall=\"fsync\"} ";
  std::string text = Render(collector);
  EXPECT_NE(text.find(pod_series + "12\n"), std::string::npos) << text;

  // 20 exits; 21 counts on: the pod's series keeps 20's share and grows.
  exit(20);
  set_bios(21, 6);
  ASSERT_TRUE(collector.Housekeep().ok());
  EXPECT_EQ(maps_.forgotten.size(), 1u);
  set_bios(21, 8);
  text = Render(collector);
  EXPECT_NE(text.find(pod_series + "15\n"), std::string::npos) << text;

  // 21 exits too: the pod is gone and so is its series; the host's stays.
  exit(21);
  ASSERT_TRUE(collector.Housekeep().ok());
  text = Render(collector);
  EXPECT_EQ(text.find("pod=\"web-7d9f-x2x\""), std::string::npos) << text;
  EXPECT_NE(text.find("diskidle_process_bios_total{device=\"loop3\",op=\"flush\","
                      "syscall=\"fsync\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{comm=\"unknown\",device=\"loop3\","
                      "op=\"flush\",syscall=\"fsync\"} 19\n"),
            std::string::npos)
      << text;
}

TEST_F(BioCollectorPodTest, WithoutAResolverTheCgroupIsIgnored) {
  maps_.snapshot.counts.push_back(
      In(kWebCgroup, Count(20, 1, kLoop3, 74, DISKIDLE_OP_FLUSH, 0, 7, 0)));
  BioCollector collector(BioCollectorConfig{}, procfs_.string(), &maps_);
  std::string text = Render(collector);
  EXPECT_NE(text.find("diskidle_bio_size_bytes_count{comm=\"unknown\",device=\"loop3\","
                      "op=\"flush\",syscall=\"fsync\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("diskidle_cgroup_resolve_misses_total"), std::string::npos) << text;
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
