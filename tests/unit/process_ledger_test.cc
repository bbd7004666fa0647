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

// A fake kernel: cumulative counts per process, what /proc says, a clock.
class FakeKernel {
 public:
  void Fsync(uint32_t tgid, uint64_t start, uint64_t n, const std::string& comm,
             uint64_t cgroup = 0) {
    bio_key key{};
    key.tgid = tgid;
    key.start_boottime_ns = start;
    key.cgroup_id = cgroup;
    key.dev = kDev;
    key.syscall_nr = kFsync;
    key.op = DISKIDLE_OP_FLUSH;
    key.size_bucket = 0;
    auto& count = counts_[{tgid, start}];
    count.key = key;
    count.bios += n;
    comms_.try_emplace({tgid, start}, comm);  // the kernel keeps the first name
    liveness_[{tgid, start}] = Liveness::kAlive;
  }
  // exec() or a write to /proc/self/comm, then a bio under a new key: the
  // kernel's process table now has the new name.
  void Rename(uint32_t tgid, uint64_t start, const std::string& comm) {
    comms_[{tgid, start}] = comm;
  }
  void Exit(uint32_t tgid, uint64_t start) { liveness_[{tgid, start}] = Liveness::kExited; }
  void ProcUnreadable(uint32_t tgid, uint64_t start) {
    liveness_[{tgid, start}] = Liveness::kUnknown;
  }
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
    snap.bio_map_capacity = capacity_;
    snap.process_map_entries = static_cast<uint32_t>(comms_.size());
    snap.process_map_capacity = capacity_;
    snap.cgroup_labels.insert(pods_.begin(), pods_.end());
    return snap;
  }
  // Cgroup `cgroup` is a container of pod `pod` in namespace "ns".
  void SetPod(uint64_t cgroup, const std::string& pod) { pods_[cgroup] = {"ns", pod, "c"}; }
  void SetCapacity(uint32_t entries) { capacity_ = entries; }  // of both maps; 0: unknown
  Liveness Check(const ProcessId& id) const {
    auto it = liveness_.find(id);
    return it == liveness_.end() ? Liveness::kExited : it->second;
  }

 private:
  std::map<ProcessId, BioCount> counts_;
  std::map<ProcessId, std::string> comms_;
  std::map<ProcessId, Liveness> liveness_;
  uint32_t capacity_ = 0;
  std::map<uint64_t, CgroupLabels> pods_;
};

using Series = std::map<SeriesKey, SeriesCounts>;

constexpr LabelSet kCompleteLabels{.device = true, .pid = false, .comm = true, .syscall = true,
                                   .op = true};
constexpr LabelSet kProcessLabels{.device = true, .pid = true, .comm = true, .syscall = true,
                                  .op = true};

class LedgerTest : public ::testing::Test {
 protected:
  explicit LedgerTest(LedgerLimits limits = {absl::Seconds(10), 1000, 500},
                      LabelSet process_labels = kProcessLabels)
      : ledger_(limits, kCompleteLabels, process_labels) {}

  // One housekeeping round a second after the last: update, then the kernel
  // forgets what was returned.
  void Round(bool forget = true) {
    now_ += absl::Seconds(1);
    auto expired = ledger_.Update(
        kernel_.Snapshot(), now_, [this](const ProcessId& id) { return kernel_.Check(id); },
        DeviceName);
    if (forget) kernel_.Forget(expired);
  }
  static std::string DeviceName(uint32_t dev) { return dev == kDev ? "loop3" : "unknown"; }

  static SeriesKey Complete(const std::string& comm) {
    return {"loop3", "", comm, "fsync", "flush"};
  }
  static SeriesKey Own(uint32_t pid, const std::string& comm) {
    return {"loop3", absl::StrCat(pid), comm, "fsync", "flush"};
  }
  // The bios of one series; nullopt when it is missing, so Optional(n) fails
  // naming the series instead of reading a missing one as 0.
  static std::optional<uint64_t> Bios(const Series& series, const SeriesKey& key) {
    auto it = series.find(key);
    if (it == series.end()) return std::nullopt;
    return it->second.bios;
  }
  std::optional<uint64_t> CompleteBios(const std::string& comm) const {
    return Bios(ledger_.complete(), Complete(comm));
  }
  std::optional<uint64_t> OwnBios(uint32_t pid, const std::string& comm) const {
    return Bios(ledger_.ProcessSeries(), Own(pid, comm));
  }
  // How many per-process series the exposition would have for `pid` (visited
  // as they are written, not merged into a map), and the bios of the last.
  std::pair<int, uint64_t> SeriesOfPid(uint32_t pid) const {
    std::pair<int, uint64_t> found{0, 0};
    ledger_.ForEachProcessSeries([&](const SeriesKey& key, const SeriesCounts& counts) {
      if (key.pid == absl::StrCat(pid)) found = {found.first + 1, counts.bios};
    });
    return found;
  }

  FakeKernel kernel_;
  ProcessLedger ledger_;
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(LedgerTest, BothViewsShowLiveProcesses) {
  kernel_.Fsync(100, 1, 5, "java");
  kernel_.Fsync(200, 2, 7, "postgres");
  Round();
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
  EXPECT_THAT(CompleteBios("postgres"), Optional(7u));
  EXPECT_EQ(ledger_.complete().at(Complete("java")).zero_byte_bios(), 5u);
  EXPECT_THAT(OwnBios(100, "java"), Optional(5u));
  EXPECT_THAT(OwnBios(200, "postgres"), Optional(7u));
  EXPECT_EQ(ledger_.tracked_processes(), 2u);
  EXPECT_EQ(ledger_.processes_in_view(), 2u);
  for (const auto& [key, counts] : ledger_.complete()) EXPECT_EQ(key.pid, "") << "no pid label";
}

TEST_F(LedgerTest, RestartsOfANameAddToOneSeriesWithoutMovingHistory) {
  // The story's fold bug: the second run of a name must not add the first
  // run's history again when it exits.
  kernel_.Fsync(100, 1, 100, "java");
  Round();
  kernel_.Exit(100, 1);
  for (int i = 0; i < 12; ++i) Round();  // past the TTL: forgotten by the kernel
  EXPECT_EQ(kernel_.Snapshot().counts.size(), 0u);
  EXPECT_THAT(CompleteBios("java"), Optional(100u));
  kernel_.Fsync(101, 2, 30, "java");
  Round();
  EXPECT_THAT(CompleteBios("java"), Optional(130u));
  kernel_.Fsync(101, 2, 20, "java");
  kernel_.Exit(101, 2);
  for (int i = 0; i < 12; ++i) {
    Round();
    EXPECT_THAT(CompleteBios("java"), Optional(150u)) << "round " << i;
  }
  EXPECT_EQ(ledger_.tracked_processes(), 0u);
}

TEST_F(LedgerTest, ExitedProcessSeriesEndAfterTheTtlAndAreNeverFolded) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.Exit(100, 1);
  Round();
  EXPECT_THAT(OwnBios(100, "java"), Optional(5u)) << "still within the TTL";
  for (int i = 0; i < 10; ++i) Round();
  EXPECT_EQ(ledger_.ProcessSeries().size(), 0u) << "ended, not moved anywhere";
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
  EXPECT_EQ(ledger_.tracked_processes(), 0u);
  EXPECT_EQ(kernel_.Snapshot().counts.size(), 0u) << "kernel entries removed";
}

TEST_F(LedgerTest, AnIdleLiveProcessKeepsItsSeries) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  for (int i = 0; i < 30; ++i) Round();
  EXPECT_THAT(OwnBios(100, "java"), Optional(5u));
}

TEST_F(LedgerTest, AFailedProcReadIsAskedAgainNotTakenAsDeath) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.ProcUnreadable(100, 1);  // e.g. EMFILE for a while
  for (int i = 0; i < 30; ++i) Round();
  EXPECT_THAT(OwnBios(100, "java"), Optional(5u)) << "past the TTL, still there";
  kernel_.Fsync(100, 1, 3, "java");  // and it goes on counting, counted
  Round();
  EXPECT_THAT(OwnBios(100, "java"), Optional(8u));
  EXPECT_THAT(CompleteBios("java"), Optional(8u));
}

TEST_F(LedgerTest, AProcessThoughtExitedThatCountsAgainIsAlive) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.Exit(100, 1);  // /proc said so (wrongly)
  Round();
  kernel_.Fsync(100, 1, 2, "java");
  for (int i = 0; i < 20; ++i) Round();
  EXPECT_THAT(OwnBios(100, "java"), Optional(7u));
}

TEST_F(LedgerTest, PidReuseGetsAFreshSeriesAndTheOldOneEndsAtOnce) {
  kernel_.Fsync(100, 1, 5, "cron");
  Round();
  kernel_.Exit(100, 1);
  kernel_.Fsync(100, 99, 3, "cron");  // same pid, later start time
  Round();
  EXPECT_THAT(OwnBios(100, "cron"), Optional(3u)) << "the new process only";
  EXPECT_THAT(CompleteBios("cron"), Optional(8u)) << "both, once";
  EXPECT_EQ(ledger_.tracked_processes(), 1u) << "the old one retired at once";
  EXPECT_EQ(kernel_.Snapshot().counts.size(), 1u);
}

TEST_F(LedgerTest, APidReusedSeveralTimesWithinOneUpdateHasOneSeries) {
  // Short-lived processes that get the same pid one after another (a busy
  // pid space, ns_last_pid) all appear in one update: only the newest keeps
  // its series, whatever order the ledger meets them in.
  for (uint64_t start : {5, 2, 9, 1, 7}) kernel_.Fsync(100, start, start, "dd");
  Round();
  auto [series, bios] = SeriesOfPid(100);
  EXPECT_EQ(series, 1) << "one series per label set in the exposition";
  EXPECT_EQ(bios, 9u) << "the newest process's own";
  EXPECT_EQ(ledger_.tracked_processes(), 1u);
  EXPECT_THAT(CompleteBios("dd"), Optional(5u + 2 + 9 + 1 + 7)) << "all of them, once";
}

class LongTtlLedgerTest : public LedgerTest {
 protected:
  LongTtlLedgerTest() : LedgerTest({absl::Hours(1), 1000, 500}) {}
};

TEST_F(LongTtlLedgerTest, NearlyFullMapsShedExitedProcessesLongestGoneFirst) {
  // Maps of 20 entries, TTL 1 h: 16 short-lived processes (one entry each)
  // exit one per round, and with a live one fill the maps past 3/4.
  kernel_.SetCapacity(20);
  kernel_.Fsync(1000, 1, 1, "alive");
  for (uint32_t i = 0; i < 16; ++i) {
    kernel_.Fsync(100 + i, 10 + i, 1, "dd");
    Round();
    kernel_.Exit(100 + i, 10 + i);
  }
  Round();  // the last one's exit is noticed
  // Each time more than 15 of 20 entries were used, the longest gone left
  // until 10 remained: the maps never stay past 3/4.
  EXPECT_LE(kernel_.Snapshot().counts.size(), 15u);
  EXPECT_GE(ledger_.early_expiries(), 6u);
  EXPECT_EQ(ledger_.early_expiries() + kernel_.Snapshot().counts.size(), 17u) << "none twice";
  EXPECT_THAT(OwnBios(1000, "alive"), Optional(1u)) << "a live process never leaves early";
  EXPECT_FALSE(OwnBios(100, "dd")) << "the first to exit left first";
  EXPECT_THAT(OwnBios(115, "dd"), Optional(1u)) << "the last to exit keeps its series";
  EXPECT_THAT(CompleteBios("dd"), Optional(16u)) << "the complete view keeps every bio";
  // Room again: a new process's bios are counted.
  kernel_.Fsync(500, 99, 4, "victim-db");
  Round();
  EXPECT_THAT(OwnBios(500, "victim-db"), Optional(4u));
  EXPECT_THAT(CompleteBios("dd"), Optional(16u));
}

TEST_F(LongTtlLedgerTest, WhatTheTtlRemovesIsNotShedAgain) {
  // Maps of 100 entries, TTL 1 h. In one update 60 exited processes reach
  // their TTL while 10 new ones bring the snapshot to 80 entries: the TTL
  // leaves 20, far below 3/4, so no other exited process leaves early.
  kernel_.SetCapacity(100);
  for (uint32_t i = 0; i < 60; ++i) kernel_.Fsync(100 + i, 1, 1, "old");
  Round();
  for (uint32_t i = 0; i < 60; ++i) kernel_.Exit(100 + i, 1);
  for (uint32_t i = 0; i < 10; ++i) kernel_.Fsync(500 + i, 3, 1, "recent");
  Round();  // the old ones' exit is noticed
  for (uint32_t i = 0; i < 10; ++i) kernel_.Exit(500 + i, 3);
  now_ += absl::Hours(1) - absl::Seconds(2);
  Round();  // the recent ones' exit is noticed
  for (uint32_t i = 0; i < 10; ++i) kernel_.Fsync(300 + i, 2, 1, "new");
  Round();  // the old ones' TTL ends
  EXPECT_EQ(ledger_.early_expiries(), 0u);
  EXPECT_THAT(OwnBios(500, "recent"), Optional(1u)) << "kept until its own TTL";
}

TEST_F(LedgerTest, AProcessMadeAnewUnderAReusedPidDoesNotShadowItsHolder) {
  // X exits and leaves the maps; Y reuses its pid; then writeback of pages X
  // dirtied makes X's entry anew: counted in the complete view, but the pid's
  // per-process series stay Y's alone.
  kernel_.Fsync(100, 1, 5, "dd");
  Round();
  kernel_.Exit(100, 1);
  for (int i = 0; i < 13; ++i) Round();  // past the TTL: X is gone from the maps
  kernel_.Fsync(100, 50, 3, "dd");        // Y
  Round();
  kernel_.Fsync(100, 1, 7, "dd");  // X's late writeback
  kernel_.Exit(100, 1);
  Round();
  auto [series, bios] = SeriesOfPid(100);
  EXPECT_EQ(series, 1) << "one series per label set in the exposition";
  EXPECT_EQ(bios, 3u) << "Y's own";
  EXPECT_THAT(CompleteBios("dd"), Optional(15u)) << "X's late writeback counted, once";
}

TEST(LedgerPods, APodsSeriesOutliveItsProcessesLeavingEarly) {
  // The per-process view keyed by pod: the pod's one-after-another processes
  // leave the nearly full maps early, and its series still only grows.
  const LabelSet by_pod{.device = true, .pid = false, .comm = false, .syscall = true,
                        .op = true, .namespace_name = true, .pod = true, .container = true};
  FakeKernel kernel;
  ProcessLedger ledger({absl::Hours(1), 1000, 500}, kCompleteLabels, by_pod);
  absl::Time now = absl::FromUnixSeconds(1000);
  auto round = [&] {
    now += absl::Seconds(1);
    kernel.Forget(ledger.Update(
        kernel.Snapshot(), now, [&](const ProcessId& id) { return kernel.Check(id); },
        [](uint32_t) { return std::string("loop3"); }));
  };
  kernel.SetCapacity(20);
  kernel.SetPod(5, "pod-a");
  for (uint32_t i = 0; i < 16; ++i) kernel.Fsync(2000 + i, 1, 1, "filler");
  uint64_t last = 0;
  for (uint32_t j = 0; j < 6; ++j) {
    kernel.Fsync(100 + j, 10 + j, 10, "job", /*cgroup=*/5);
    round();
    uint64_t shown = 0;
    for (const auto& [key, counts] : ledger.ProcessSeries()) {
      if (key.pod == "pod-a") shown += counts.bios;
    }
    EXPECT_EQ(shown, last + 10) << "process " << j;
    last = shown;
    kernel.Exit(100 + j, 10 + j);
    round();
    round();
  }
  EXPECT_GT(ledger.early_expiries(), 0u) << "the scenario sheds";
}

TEST_F(LedgerTest, FailedKernelRemovalNeverCountsTwice) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  kernel_.Exit(100, 1);
  for (int i = 0; i < 11; ++i) Round(/*forget=*/false);
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
  Round(/*forget=*/false);
  EXPECT_THAT(CompleteBios("java"), Optional(5u)) << "entries still in the kernel are ignored";
  Round(/*forget=*/true);
  Round();
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
}

TEST_F(LedgerTest, OnlyProcessesThatStoppedCountingAreLookedUp) {
  int lookups = 0;
  kernel_.Fsync(100, 1, 5, "busy");
  kernel_.Fsync(200, 1, 5, "idle");
  auto update = [&] {
    now_ += absl::Seconds(1);
    ledger_.Update(kernel_.Snapshot(), now_,
                   [&](const ProcessId& id) {
                     ++lookups;
                     return kernel_.Check(id);
                   },
                   DeviceName);
  };
  update();
  EXPECT_EQ(lookups, 0) << "both just appeared";
  kernel_.Fsync(100, 1, 1, "busy");
  update();
  EXPECT_EQ(lookups, 1) << "only the idle one";
}

class BoundedLedgerTest : public LedgerTest {
 protected:
  BoundedLedgerTest() : LedgerTest({absl::Seconds(10), 1, 1}) {}
};

TEST_F(BoundedLedgerTest, ALateJoinerCountsFromWhenItJoins) {
  kernel_.Fsync(100, 1, 10, "a");
  kernel_.Fsync(200, 2, 1, "b");
  Round();
  EXPECT_THAT(OwnBios(100, "a"), Optional(10u));
  EXPECT_EQ(OwnBios(200, "b"), std::nullopt) << "one slot, the busier has it";
  // b becomes far busier; a is idle. After a's minimum time in the view, b
  // takes the slot and shows only what it does from then on: 0 in the update
  // where it joins, then exactly what it adds.
  std::optional<uint64_t> shown;
  for (int i = 0; i < 14; ++i) {
    kernel_.Fsync(200, 2, 100, "b");
    Round();
    std::optional<uint64_t> now_shown = OwnBios(200, "b");
    if (now_shown && !shown) {
      EXPECT_EQ(*now_shown, 0u) << "its counts from before the slot are not absorbed";
    } else if (shown) {
      EXPECT_THAT(now_shown, Optional(*shown + 100)) << "round " << i;
    }
    shown = now_shown;
  }
  ASSERT_TRUE(shown.has_value()) << "b never got the slot";
  EXPECT_EQ(OwnBios(100, "a"), std::nullopt);
  EXPECT_EQ(ledger_.evictions(), 1u);
  EXPECT_THAT(CompleteBios("a"), Optional(10u));
  EXPECT_THAT(Bios(ledger_.complete(), Complete("other")), Optional(1401u))
      << "max_comms 1: the second name is other";
}

TEST_F(BoundedLedgerTest, AProcessThatComesBackContinuesWhereItsSeriesLeftOff) {
  kernel_.Fsync(100, 1, 10, "a");
  Round();
  for (int i = 0; i < 12; ++i) {
    kernel_.Fsync(200, 2, 100, "b");
    Round();
  }
  ASSERT_EQ(OwnBios(100, "a"), std::nullopt);
  for (int i = 0; i < 40; ++i) {
    kernel_.Fsync(100, 1, 1000, "a");
    Round();
    if (auto a = OwnBios(100, "a")) {
      EXPECT_GE(*a, 10u) << "never below what it showed before";
    }
  }
  EXPECT_TRUE(OwnBios(100, "a").has_value()) << "busier again: back in the view";
}

TEST_F(LedgerTest, MaxProcessesZeroMeansNoPerProcessView) {
  ledger_.SetLimits({absl::Seconds(10), 0, 500});
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  EXPECT_EQ(ledger_.ProcessSeries().size(), 0u);
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
}

TEST_F(LedgerTest, RaisingMaxCommsNeverMakesOtherDecrease) {
  ledger_.SetLimits({absl::Seconds(10), 1000, 1});
  kernel_.Fsync(100, 1, 5, "a");
  kernel_.Fsync(200, 2, 7, "b");
  Round();
  EXPECT_THAT(Bios(ledger_.complete(), Complete("other")), Optional(7u));
  ledger_.SetLimits({absl::Seconds(10), 1000, 10});
  kernel_.Fsync(200, 2, 1, "b");
  kernel_.Fsync(300, 3, 2, "b");  // a new process of that name gets its own series now
  Round();
  EXPECT_THAT(Bios(ledger_.complete(), Complete("other")), Optional(8u));
  EXPECT_THAT(CompleteBios("b"), Optional(2u));
}

TEST_F(LedgerTest, ARenamedProcessCountsUnderItsNewNameFromThenOn) {
  // A launcher (sh, python3) that reads from disk, then becomes the program.
  kernel_.Fsync(100, 1, 5, "sh");
  Round();
  kernel_.Rename(100, 1, "java");
  kernel_.Fsync(100, 1, 7, "java");
  Round();
  EXPECT_THAT(CompleteBios("sh"), Optional(5u)) << "the old name keeps what it counted";
  EXPECT_THAT(CompleteBios("java"), Optional(7u)) << "the new name counts what follows";
  EXPECT_THAT(OwnBios(100, "sh"), Optional(5u));
  EXPECT_THAT(OwnBios(100, "java"), Optional(7u));
  kernel_.Fsync(100, 1, 2, "java");
  Round();
  EXPECT_THAT(CompleteBios("sh"), Optional(5u));
  EXPECT_THAT(CompleteBios("java"), Optional(9u));
  EXPECT_THAT(OwnBios(100, "java"), Optional(9u));
  // Renamed back (a second exec): its first name's series grows again.
  kernel_.Rename(100, 1, "sh");
  kernel_.Fsync(100, 1, 1, "sh");
  Round();
  EXPECT_THAT(CompleteBios("sh"), Optional(6u));
  EXPECT_THAT(OwnBios(100, "sh"), Optional(6u));
  EXPECT_THAT(OwnBios(100, "java"), Optional(9u));
}

TEST_F(LedgerTest, AProcessThatKeepsRenamingItselfKeepsItsEighthName) {
  // Each name has series of its own: a process cycling through names must not
  // grow the per-process view without bound.
  for (int i = 0; i < 20; ++i) {
    kernel_.Rename(100, 1, absl::StrCat("name", i));
    kernel_.Fsync(100, 1, 1, "");
    Round();
  }
  EXPECT_THAT(OwnBios(100, "name0"), Optional(1u));
  EXPECT_THAT(OwnBios(100, "name6"), Optional(1u));
  EXPECT_THAT(OwnBios(100, "name7"), Optional(13u)) << "the eighth name keeps the rest";
  EXPECT_EQ(ledger_.ProcessSeries().size(), 8u);
  EXPECT_THAT(CompleteBios("name7"), Optional(13u));
  EXPECT_EQ(CompleteBios("name8"), std::nullopt);
}

TEST_F(LedgerTest, AProcessTheKernelCouldNotNameTakesItsNameLater) {
  kernel_.Fsync(100, 1, 5, "");  // the process table was full
  Round();
  EXPECT_THAT(CompleteBios("unknown"), Optional(5u));
  kernel_.Rename(100, 1, "java");
  kernel_.Fsync(100, 1, 3, "java");
  Round();
  EXPECT_THAT(CompleteBios("unknown"), Optional(5u));
  EXPECT_THAT(CompleteBios("java"), Optional(3u));
}

TEST(LedgerRename, APidViewWithoutCommHasOneSeriesPerKeyAcrossRenames) {
  ProcessLedger ledger({absl::Seconds(10), 1000, 500}, kCompleteLabels,
                       LabelSet{.device = true, .pid = true, .comm = false, .syscall = true,
                                .op = true});
  FakeKernel kernel;
  absl::Time now = absl::FromUnixSeconds(1000);
  auto round = [&] {
    now += absl::Seconds(1);
    ledger.Update(
        kernel.Snapshot(), now, [&](const ProcessId& id) { return kernel.Check(id); },
        [](uint32_t) { return std::string("loop3"); });
  };
  kernel.Fsync(100, 1, 5, "sh");
  round();
  kernel.Rename(100, 1, "java");
  kernel.Fsync(100, 1, 7, "java");
  round();
  std::vector<std::pair<SeriesKey, uint64_t>> visited;
  ledger.ForEachProcessSeries(
      [&](const SeriesKey& key, const SeriesCounts& counts) { visited.push_back({key, counts.bios}); });
  ASSERT_EQ(visited.size(), 1u) << "both names' counts in the one series of the pid";
  EXPECT_EQ(visited[0].first, (SeriesKey{"loop3", "100", "", "fsync", "flush"}));
  EXPECT_EQ(visited[0].second, 12u);
}

class NoPidLedgerTest : public LedgerTest {
 protected:
  NoPidLedgerTest()
      : LedgerTest({absl::Seconds(2), 1, 500},
                   LabelSet{.device = true, .pid = false, .comm = true, .syscall = true,
                            .op = true}) {}
};

TEST_F(NoPidLedgerTest, SeriesWithoutPidNeverDecreaseWhenProcessesLeave) {
  kernel_.Fsync(100, 1, 10, "a");
  Round();
  SeriesKey a{"loop3", "", "a", "fsync", "flush"};
  EXPECT_THAT(Bios(ledger_.ProcessSeries(), a), Optional(10u));
  kernel_.Exit(100, 1);
  for (int i = 0; i < 5; ++i) Round();
  EXPECT_THAT(Bios(ledger_.ProcessSeries(), a), Optional(10u)) << "kept after the process ended";
  kernel_.Fsync(101, 2, 5, "a");
  Round();
  EXPECT_THAT(Bios(ledger_.ProcessSeries(), a), Optional(15u));
}

TEST_F(LedgerTest, ARemovedDevicesSeriesEndInBothViews) {
  kernel_.Fsync(100, 1, 5, "java");
  Round();
  ledger_.ForgetDevices({"sdz"});  // another device: nothing changes
  EXPECT_THAT(CompleteBios("java"), Optional(5u));
  ledger_.ForgetDevices({"loop3"});
  EXPECT_EQ(CompleteBios("java"), std::nullopt);
  EXPECT_EQ(OwnBios(100, "java"), std::nullopt);
  EXPECT_EQ(SeriesOfPid(100).first, 0);
  // The process lives on and its entry is unchanged: nothing comes back.
  Round();
  EXPECT_EQ(CompleteBios("java"), std::nullopt);
  EXPECT_EQ(OwnBios(100, "java"), std::nullopt);
}

TEST_F(NoPidLedgerTest, APerProcessViewWithoutDeviceKeepsItsSumsWhenADeviceGoes) {
  ProcessLedger ledger({absl::Seconds(2), 1000, 500}, kCompleteLabels,
                       LabelSet{.device = false, .pid = true, .comm = true});
  kernel_.Fsync(100, 1, 10, "a");
  ledger.Update(kernel_.Snapshot(), now_, [this](const ProcessId& id) { return kernel_.Check(id); },
                DeviceName);
  ledger.ForgetDevices({"loop3"});
  EXPECT_EQ(Bios(ledger.complete(), Complete("a")), std::nullopt) << "the complete view has device";
  EXPECT_THAT(Bios(ledger.ProcessSeries(), SeriesKey{"", "100", "a", "fsync", "flush"}), Optional(10u))
      << "a sum over devices never goes down";
}

// Random lifecycles with renames: every bio is in the complete view exactly
// once, and no series of either view ever goes down (pid reuse aside, which
// ends a series).
TEST(LedgerProperty, CompleteViewIsExactAndNoSeriesDecreases) {
  for (int max_processes : {0, 1, 3, 1000}) {
    std::mt19937 rng(max_processes + 7);
    FakeKernel kernel;
    ProcessLedger ledger({absl::Seconds(3), max_processes, 4}, kCompleteLabels, kProcessLabels);
    absl::Time now = absl::FromUnixSeconds(1000);
    std::map<ProcessId, std::string> live;
    uint64_t truth = 0;
    uint64_t next_start = 1;
    Series last_complete, last_own;
    for (int round = 0; round < 400; ++round) {
      for (int k = 0; k < 3; ++k) {
        int action = static_cast<int>(rng() % 10);
        if (action < 3 || live.empty()) {  // a new process, pids from a small range
          ProcessId id{static_cast<uint32_t>(100 + rng() % 40), next_start++};
          bool pid_in_use = false;
          for (const auto& [other, comm] : live) pid_in_use |= other.first == id.first;
          if (pid_in_use) continue;
          live[id] = "c" + std::to_string(rng() % 6);
        }
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        if (action == 9) {
          kernel.Exit(it->first.first, it->first.second);
          live.erase(it);
        } else if (action == 7 && rng() % 3 == 0) {  // exec() into another name
          it->second = "c" + std::to_string(rng() % 6);
          kernel.Rename(it->first.first, it->first.second, it->second);
        } else if (action == 8) {
          kernel.ProcUnreadable(it->first.first, it->first.second);
        } else {
          uint64_t n = 1 + rng() % 50;
          kernel.Fsync(it->first.first, it->first.second, n, it->second);
          truth += n;
        }
      }
      now += absl::Milliseconds(500 + rng() % 1000);
      auto expired = ledger.Update(
          kernel.Snapshot(), now, [&](const ProcessId& id) { return kernel.Check(id); },
          [](uint32_t) { return std::string("loop3"); });
      if (rng() % 4 != 0) kernel.Forget(expired);  // a removal fails now and then

      uint64_t sum = 0;
      for (const auto& [key, counts] : ledger.complete()) {
        sum += counts.bios;
        auto before = last_complete.find(key);
        if (before != last_complete.end()) {
          ASSERT_GE(counts.bios, before->second.bios) << "round " << round;
        }
      }
      ASSERT_EQ(sum, truth) << "round " << round << ", max_processes " << max_processes;
      Series own = ledger.ProcessSeries();
      std::set<std::string> pids_shown;
      for (const auto& [key, counts] : own) pids_shown.insert(key.pid);
      ASSERT_LE(pids_shown.size(), static_cast<size_t>(max_processes))
          << "series of at most max_processes processes (one per name each)";
      for (const auto& [key, counts] : own) {
        auto before = last_own.find(key);
        if (before != last_own.end() && counts.bios < before->second.bios) {
          // Only a reused pid may start a series of the same labels anew.
          bool reused = false;
          for (const auto& [id, comm] : live) reused |= absl::StrCat(id.first) == key.pid;
          ASSERT_TRUE(reused) << "series " << key.pid << " went down in round " << round;
        }
      }
      for (const auto& [key, counts] : own) last_own[key] = counts;
      last_complete = ledger.complete();
    }
  }
}

// The page at / sums these: each update reports what it counted, once, under
// the full labels, whatever the views keep.
TEST_F(LedgerTest, UpdateReportsWhatItCountedUnderTheFullLabels) {
  auto update = [this] {
    std::vector<LedgerChange> changes;
    now_ += absl::Seconds(1);
    ledger_.Update(
        kernel_.Snapshot(), now_, [this](const ProcessId& id) { return kernel_.Check(id); },
        DeviceName, [&changes](const SeriesKey& key, const SeriesCounts& delta) {
          changes.push_back({key, delta.bios, delta.zero_byte_bios()});
        });
    return changes;
  };
  kernel_.Fsync(100, 1, 5, "java");
  std::vector<LedgerChange> changes = update();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, Own(100, "java"));
  EXPECT_EQ(changes[0].bios, 5u);
  EXPECT_EQ(changes[0].zero_byte_bios, 5u);
  kernel_.Fsync(100, 1, 3, "java");
  changes = update();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].bios, 3u) << "the change since the last update, not the total";
  EXPECT_TRUE(update().empty());
}

}  // namespace
}  // namespace diskidle
