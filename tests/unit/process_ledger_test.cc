#include "collectors/process_ledger.h"

#include <linux/types.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace diskidle {
namespace {

using ::testing::Optional;

constexpr uint32_t kDev = (7 << 20) | 3;  // loop3
constexpr int32_t kFsync = 74;

// A fake kernel: cumulative counts per process, a liveness set, a clock.
class FakeKernel {
 public:
  void Fsync(uint32_t tgid, uint64_t start, uint64_t n, const std::string& comm) {
    bio_key key{};
    key.tgid = tgid;
    key.start_boottime_ns = start;
    key.dev = kDev;
    key.syscall_nr = kFsync;
    key.op = DISKIDLE_OP_FLUSH;
    key.size_bucket = 0;
    auto& count = counts_[{tgid, start}];
    count.key = key;
    count.bios += n;
    comms_[{tgid, start}] = comm;
    alive_.insert({tgid, start});
  }
  void Exit(uint32_t tgid, uint64_t start) { alive_.erase({tgid, start}); }
  void Forget(const std::vector<ProcessId>& ids) {
    for (const auto& id : ids) {
      counts_.erase(id);
      comms_.erase(id);
    }
  }
  BioSnapshot Snapshot() const {
    BioSnapshot snap;
    for (const auto& [id, count] : counts_) snap.counts.push_back(count);
    snap.comms = comms_;
    return snap;
  }
  bool Alive(const ProcessId& id) const { return alive_.count(id) > 0; }

 private:
  std::map<ProcessId, BioCount> counts_;
  std::map<ProcessId, std::string> comms_;
  std::set<ProcessId> alive_;
};

class LedgerTest : public ::testing::Test {
 protected:
  explicit LedgerTest(LedgerLimits limits = {absl::Seconds(10), 1000, 500}) : ledger_(limits) {}

  // One housekeeping round: update, then the kernel forgets what was returned.
  std::map<SeriesKey, SeriesCounts> Round(bool forget = true) {
    BioSnapshot snap = kernel_.Snapshot();
    auto expired = ledger_.Update(
        snap, now_, [this](const ProcessId& id) { return kernel_.Alive(id); }, DeviceName);
    auto series = ledger_.Series(snap, DeviceName);
    if (forget) kernel_.Forget(expired);
    return series;
  }
  static std::string DeviceName(uint32_t dev) { return dev == kDev ? "loop3" : "unknown"; }

  static uint64_t Sum(const std::map<SeriesKey, SeriesCounts>& series, const std::string& comm = "") {
    uint64_t sum = 0;
    for (const auto& [key, counts] : series) {
      if (comm.empty() || key.comm == comm) sum += counts.bios;
    }
    return sum;
  }
  // The bios of one series; nullopt when it is missing, so Optional(n) fails
  // naming the series expression instead of reading a missing one as 0.
  static std::optional<uint64_t> Bios(const std::map<SeriesKey, SeriesCounts>& series,
                                      const SeriesKey& key) {
    auto it = series.find(key);
    if (it == series.end()) return std::nullopt;
    return it->second.bios;
  }
  static std::set<std::string> Pids(const std::map<SeriesKey, SeriesCounts>& series) {
    std::set<std::string> pids;
    for (const auto& [key, counts] : series) pids.insert(key.pid);
    return pids;
  }

  FakeKernel kernel_;
  ProcessLedger ledger_;
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(LedgerTest, LiveProcessesHaveTheirOwnSeries) {
  kernel_.Fsync(100, 1, 5, "java");
  kernel_.Fsync(200, 2, 7, "postgres");
  auto series = Round();
  EXPECT_EQ(Pids(series), (std::set<std::string>{"100", "200"}));
  SeriesKey java{"loop3", "100", "java", "fsync", "flush"};
  ASSERT_TRUE(series.count(java));
  EXPECT_THAT(Bios(series, java), Optional(5u));
  EXPECT_EQ(series.at(java).buckets[0], 5u);  // zero-byte bucket
  EXPECT_EQ(ledger_.tracked_processes(), 2u);
}

TEST_F(LedgerTest, ExitedProcessKeepsItsSeriesForTheTtlThenFoldsExactly) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.Exit(100, 1);
  now_ += absl::Seconds(1);
  auto series = Round();
  EXPECT_EQ(Pids(series), (std::set<std::string>{"100"})) << "still within the TTL";

  now_ += absl::Seconds(10);
  series = Round();
  EXPECT_EQ(Pids(series), (std::set<std::string>{""}));
  SeriesKey aggregate{"loop3", "", "java", "fsync", "flush"};
  EXPECT_THAT(Bios(series, aggregate), Optional(5u));
  EXPECT_EQ(ledger_.folded_exited(), 1u);
  EXPECT_EQ(ledger_.tracked_processes(), 0u);
  EXPECT_EQ(kernel_.Snapshot().counts.size(), 0u) << "kernel entries removed";

  series = Round();
  EXPECT_EQ(Sum(series), 5u) << "no double count after removal";
}

TEST_F(LedgerTest, FailedKernelRemovalNeverCountsTwice) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.Exit(100, 1);
  Round();
  now_ += absl::Seconds(11);
  EXPECT_EQ(Sum(Round(/*forget=*/false)), 5u);
  EXPECT_EQ(Sum(Round(/*forget=*/false)), 5u) << "entries still in the kernel are ignored";
  EXPECT_EQ(Sum(Round(/*forget=*/true)), 5u);
  EXPECT_EQ(Sum(Round()), 5u);
}

TEST_F(LedgerTest, OnlyProcessesThatStoppedCountingAreLookedUp) {
  int lookups = 0;
  kernel_.Fsync(100, 1, 5, "busy");
  kernel_.Fsync(200, 1, 5, "idle");
  auto update = [&] {
    ledger_.Update(kernel_.Snapshot(), now_,
                   [&](const ProcessId& id) {
                     ++lookups;
                     return kernel_.Alive(id);
                   },
                   DeviceName);
  };
  update();
  EXPECT_EQ(lookups, 0) << "both just counted";
  kernel_.Fsync(100, 1, 1, "busy");
  update();
  EXPECT_EQ(lookups, 1) << "only the idle one";
}

TEST_F(LedgerTest, PidReuseIsTwoProcesses) {
  kernel_.Fsync(100, 1, 5, "cron");
  Round();
  kernel_.Exit(100, 1);
  kernel_.Fsync(100, 99, 3, "cron");  // same PID, later start time
  auto series = Round();
  EXPECT_EQ(Sum(series), 8u);
  now_ += absl::Seconds(11);
  series = Round();
  SeriesKey old_one{"loop3", "", "cron", "fsync", "flush"};
  SeriesKey new_one{"loop3", "100", "cron", "fsync", "flush"};
  EXPECT_THAT(Bios(series, old_one), Optional(5u));
  EXPECT_THAT(Bios(series, new_one), Optional(3u));
}

class BoundedLedgerTest : public LedgerTest {
 protected:
  BoundedLedgerTest() : LedgerTest({absl::Seconds(10), 2, 2}) {}
};

TEST_F(BoundedLedgerTest, BeyondMaxProcessesTheLeastActiveFoldForGood) {
  kernel_.Fsync(1, 1, 100, "a");
  kernel_.Fsync(2, 1, 50, "a");
  kernel_.Fsync(3, 1, 1, "a");
  auto series = Round();
  EXPECT_EQ(Pids(series), (std::set<std::string>{"1", "2", ""}));
  EXPECT_THAT(Bios(series, SeriesKey{"loop3", "", "a", "fsync", "flush"}), Optional(1u));
  EXPECT_EQ(ledger_.folded_limit(), 1u);

  // The folded process becomes the busiest: it stays folded, so pid="" never drops.
  kernel_.Fsync(3, 1, 1000, "a");
  series = Round();
  EXPECT_THAT(Bios(series, SeriesKey{"loop3", "", "a", "fsync", "flush"}), Optional(1001u));
  EXPECT_EQ(Sum(series), 1151u);
}

TEST_F(BoundedLedgerTest, BeyondMaxCommsAggregatesAreOther) {
  for (uint32_t pid = 1; pid <= 5; ++pid) kernel_.Fsync(pid, 1, pid, absl::StrCat("c", pid));
  for (uint32_t pid = 1; pid <= 5; ++pid) kernel_.Exit(pid, 1);
  Round();  // first sight: counting, so taken as alive
  Round();  // nothing new counted: looked up, found exited
  now_ += absl::Seconds(11);
  auto series = Round();
  std::set<std::string> comms;
  for (const auto& [key, counts] : series) comms.insert(key.comm);
  EXPECT_EQ(comms.size(), 3u) << "two aggregates plus other";
  EXPECT_TRUE(comms.count("other"));
  EXPECT_EQ(Sum(series), 15u);
}

// Property: whatever processes do, the total and every per-comm sum is exact
// and never decreases, and the number of pid series stays bounded.
TEST(LedgerProperty, SumsAreExactAndMonotonic) {
  std::mt19937 rng(42);
  FakeKernel kernel;
  ProcessLedger ledger({absl::Seconds(3), 20, 1000});
  absl::Time now = absl::FromUnixSeconds(0);
  std::map<std::string, uint64_t> generated, last_seen;
  std::vector<std::pair<uint32_t, uint64_t>> live;
  uint32_t next_pid = 1;
  for (int step = 0; step < 400; ++step) {
    now += absl::Seconds(1);
    for (int spawn = rng() % 4; spawn > 0; --spawn) live.push_back({next_pid++ % 64, static_cast<uint64_t>(absl::ToUnixSeconds(now))});
    for (auto& [pid, start] : live) {
      uint64_t n = rng() % 5;
      std::string comm = absl::StrCat("comm", pid % 7);
      kernel.Fsync(pid, start, n, comm);
      generated[comm] += n;
    }
    std::erase_if(live, [&](const auto& p) {
      bool exits = rng() % 5 == 0;
      if (exits) kernel.Exit(p.first, p.second);
      return exits;
    });
    BioSnapshot snap = kernel.Snapshot();
    auto expired = ledger.Update(snap, now, [&](const ProcessId& id) { return kernel.Alive(id); },
                                 [](uint32_t) { return std::string("loop3"); });
    auto series = ledger.Series(snap, [](uint32_t) { return std::string("loop3"); });
    if (rng() % 3) kernel.Forget(expired);  // sometimes removal "fails"
    std::map<std::string, uint64_t> seen;
    size_t pid_series = 0;
    for (const auto& [key, counts] : series) {
      seen[key.comm] += counts.bios;
      if (!key.pid.empty()) ++pid_series;
    }
    EXPECT_EQ(seen, generated) << "step " << step;
    for (const auto& [comm, n] : last_seen) EXPECT_GE(seen[comm], n) << comm;
    EXPECT_LE(pid_series, 20u);
    last_seen = seen;
  }
}

}  // namespace
}  // namespace diskidle
