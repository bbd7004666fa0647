// The rolling windows behind the page at /: rates are what was counted in the
// window divided by the time the window covers, whatever the spacing of the
// updates (housekeeping every second, scrapes in between).
#include "collectors/live_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace diskidle {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

absl::Time At(double seconds) { return kT0 + absl::Seconds(seconds); }

DiskStats Disk(const std::string& name, uint64_t writes, uint64_t sectors, uint64_t flushes,
               uint64_t io_time_ms, int field_count = 20) {
  DiskStats d;
  d.name = name;
  d.field_count = field_count;
  d.writes_completed = writes;
  d.sectors_written = sectors;
  d.flush_requests = flushes;
  d.io_time_ms = io_time_ms;
  return d;
}

LedgerChange Change(const std::string& pid, const std::string& comm, const std::string& syscall,
                    uint64_t bios, uint64_t zero_byte_bios, const std::string& op = "flush",
                    const std::string& device = "loop3") {
  return LedgerChange{
      .key = {.device = device, .pid = pid, .comm = comm, .syscall = syscall, .op = op},
      .bios = bios,
      .zero_byte_bios = zero_byte_bios};
}

TEST(DiskRateWindowTest, NeedsTwoReadings) {
  DiskRateWindow w(absl::Seconds(10));
  EXPECT_THAT(w.Rates().disks, IsEmpty());
  w.Add(At(0), {Disk("sda", 0, 0, 0, 0)});
  EXPECT_THAT(w.Rates().disks, IsEmpty());
}

TEST(DiskRateWindowTest, RatesAreCounterChangesOverTheReadingsSpan) {
  DiskRateWindow w(absl::Seconds(10));
  w.Add(At(0), {Disk("sda", 100, 1000, 50, 0)});
  w.Add(At(1), {Disk("sda", 150, 1800, 90, 300)});
  w.Add(At(4), {Disk("sda", 400, 9000, 250, 1200)});  // a late reading: 4 s in all
  DiskRatesView view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(4));
  ASSERT_THAT(view.disks, SizeIs(1));
  const DiskRates& sda = view.disks[0];
  EXPECT_EQ(sda.device, "sda");
  EXPECT_THAT(sda.writes_per_second, DoubleNear(300.0 / 4, 1e-9));
  EXPECT_THAT(sda.written_bytes_per_second, DoubleNear(8000.0 * 512 / 4, 1e-6));
  EXPECT_THAT(sda.flushes_per_second, Optional(DoubleNear(200.0 / 4, 1e-9)));
  EXPECT_THAT(sda.utilization, DoubleNear(0.3, 1e-9));
}

TEST(DiskRateWindowTest, CoversTheTrailingWindowOnly) {
  DiskRateWindow w(absl::Seconds(10));
  // 100 flushes/s for 10 s, then 5 s without any: 500 of the last 10 s.
  for (int s = 0; s <= 15; ++s) {
    const uint64_t flushes = 100 * std::min(s, 10);
    w.Add(At(s), {Disk("sda", flushes, 0, flushes, 0)});
  }
  DiskRatesView view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(10));
  ASSERT_THAT(view.disks, SizeIs(1));
  EXPECT_THAT(view.disks[0].flushes_per_second, Optional(DoubleNear(50.0, 1e-9)));
  for (int s = 16; s <= 25; ++s) w.Add(At(s), {Disk("sda", 1000, 0, 1000, 0)});
  EXPECT_THAT(w.Rates().disks[0].flushes_per_second, Optional(DoubleNear(0.0, 1e-9)));
}

TEST(DiskRateWindowTest, KernelsWithoutFlushFieldsHaveNoFlushRate) {
  DiskRateWindow w(absl::Seconds(10));
  w.Add(At(0), {Disk("sda", 0, 0, 0, 0, /*field_count=*/18)});
  w.Add(At(1), {Disk("sda", 10, 0, 0, 0, /*field_count=*/18)});
  ASSERT_THAT(w.Rates().disks, SizeIs(1));
  EXPECT_EQ(w.Rates().disks[0].flushes_per_second, std::nullopt);
}

TEST(DiskRateWindowTest, ACounterGoingBackRestartsTheDiskAndAGoneDiskLeaves) {
  DiskRateWindow w(absl::Seconds(10));
  w.Add(At(0), {Disk("loop1", 500, 0, 0, 0), Disk("loop2", 0, 0, 0, 0)});
  w.Add(At(1), {Disk("loop1", 7, 0, 0, 0)});  // re-created; loop2 detached
  EXPECT_THAT(w.Rates().disks, IsEmpty());
  w.Add(At(2), {Disk("loop1", 17, 0, 0, 0)});
  ASSERT_THAT(w.Rates().disks, SizeIs(1));
  EXPECT_THAT(w.Rates().disks[0].writes_per_second, DoubleNear(10.0, 1e-9));
}

TEST(ProcessActivityWindowTest, TheFirstUpdateOnlyStartsTheWindow) {
  ProcessActivityWindow w(absl::Seconds(10), 10);
  // Counts since the program was attached, at an unknown time: not a rate.
  w.Add(At(0), {Change("7", "db", "fsync", 5000, 5000)});
  EXPECT_EQ(w.Rates().window, absl::ZeroDuration());
  EXPECT_THAT(w.Rates().top_by_bios, IsEmpty());
  w.Add(At(1), {Change("7", "db", "fsync", 30, 30)});
  ProcessRatesView view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(1));
  ASSERT_THAT(view.top_by_bios, SizeIs(1));
  EXPECT_EQ(view.top_by_bios[0].bios, 30u);
  EXPECT_THAT(view.top_by_bios[0].bios_per_second, DoubleNear(30.0, 1e-9));
}

TEST(ProcessActivityWindowTest, UnevenUpdatesGiveTheSameRate) {
  // Housekeeping at whole seconds, scrapes in between: 20 bios in 2 s.
  ProcessActivityWindow w(absl::Seconds(10), 10);
  w.Add(At(0), {});
  w.Add(At(1), {Change("7", "db", "fsync", 10, 10)});
  w.Add(At(1.3), {Change("7", "db", "fsync", 3, 3)});
  w.Add(At(2), {Change("7", "db", "fsync", 7, 7)});
  ProcessRatesView view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(2));
  ASSERT_THAT(view.top_by_zero_byte_bios, SizeIs(1));
  EXPECT_EQ(view.top_by_zero_byte_bios[0].zero_byte_bios, 20u);
  EXPECT_THAT(view.top_by_zero_byte_bios[0].zero_byte_bios_per_second, DoubleNear(10.0, 1e-9));
}

TEST(ProcessActivityWindowTest, CountsLeaveWithTheirUpdate) {
  ProcessActivityWindow w(absl::Seconds(10), 10);
  w.Add(At(0), {});
  w.Add(At(1), {Change("7", "db", "fsync", 100, 100)});  // the interval (0, 1]
  for (int s = 2; s <= 10; ++s) w.Add(At(s), {Change("8", "log", "write", 1, 0, "write")});
  ProcessRatesView view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(10));  // (0, 10]: the burst is still in
  ASSERT_THAT(view.top_by_bios, SizeIs(2));
  EXPECT_EQ(view.top_by_bios[0].comm, "db");
  EXPECT_THAT(view.top_by_bios[0].bios_per_second, DoubleNear(10.0, 1e-9));
  EXPECT_THAT(view.top_by_bios[1].bios_per_second, DoubleNear(0.9, 1e-9));
  w.Add(At(11), {});  // (1, 11]: the burst has left
  view = w.Rates();
  EXPECT_EQ(view.window, absl::Seconds(10));
  ASSERT_THAT(view.top_by_bios, SizeIs(1));
  EXPECT_EQ(view.top_by_bios[0].comm, "log");
  EXPECT_THAT(view.top_by_bios[0].bios_per_second, DoubleNear(0.9, 1e-9));
  EXPECT_THAT(view.top_by_zero_byte_bios, IsEmpty());
}

TEST(ProcessActivityWindowTest, RowsAreProcessSyscallAndDiskWithOpsSummed) {
  ProcessActivityWindow w(absl::Seconds(10), 10);
  w.Add(At(0), {});
  w.Add(At(1),
        {Change("7", "db", "fsync", 4, 0, "write"), Change("7", "db", "fsync", 6, 6),
         Change("7", "db", "fdatasync", 1, 1), Change("7", "db", "fsync", 2, 2, "flush", "sdb")});
  ProcessRatesView view = w.Rates();
  EXPECT_THAT(
      view.top_by_bios,
      ElementsAre(AllOf(Field(&ProcessRate::syscall, "fsync"), Field(&ProcessRate::device, "loop3"),
                        Field(&ProcessRate::bios, 10u), Field(&ProcessRate::zero_byte_bios, 6u)),
                  Field(&ProcessRate::device, "sdb"), Field(&ProcessRate::syscall, "fdatasync")));
  EXPECT_THAT(view.top_by_zero_byte_bios, ElementsAre(Field(&ProcessRate::zero_byte_bios, 6u),
                                                      Field(&ProcessRate::zero_byte_bios, 2u),
                                                      Field(&ProcessRate::zero_byte_bios, 1u)));
}

TEST(ProcessActivityWindowTest, KeepsTheTopN) {
  ProcessActivityWindow w(absl::Seconds(10), 3);
  std::vector<LedgerChange> changes;
  for (int pid = 1; pid <= 6; ++pid) {
    changes.push_back(Change(std::to_string(pid), "p", "write", pid * 10, pid, "write"));
  }
  w.Add(At(0), {});
  w.Add(At(1), changes);
  EXPECT_THAT(w.Rates().top_by_bios,
              ElementsAre(Field(&ProcessRate::pid, "6"), Field(&ProcessRate::pid, "5"),
                          Field(&ProcessRate::pid, "4")));
}

class LiveViewTest : public ::testing::Test {
 protected:
  LiveView::Options Options(bool disks, bool processes) {
    return {.disks_collected = disks, .processes_collected = processes, .clock = [this] {
              return now_;
            }};
  }
  absl::Time now_ = kT0;
};

TEST_F(LiveViewTest, SaysWhichCollectorIsOff) {
  LiveView live(Options(/*disks=*/false, /*processes=*/false));
  LiveRates rates = live.Rates();
  EXPECT_THAT(rates.disks.unavailable, ::testing::HasSubstr("diskstats collector is off"));
  EXPECT_THAT(rates.processes.unavailable, ::testing::HasSubstr("bio collector is off"));
}

TEST_F(LiveViewTest, WaitsForTwoReadingsAndNoticesAStoppedFeed) {
  LiveView live(Options(true, true));
  EXPECT_THAT(live.Rates().disks.unavailable, ::testing::HasSubstr("Waiting"));
  EXPECT_THAT(live.Rates().processes.unavailable, ::testing::HasSubstr("Waiting"));
  for (int s = 0; s <= 2; ++s) {
    now_ = At(s);
    live.ObserveDisks({Disk("sda", s * 10, 0, s, 0)});
    live.ObserveBios({Change("7", "db", "fsync", 5, 5)});
  }
  LiveRates rates = live.Rates();
  EXPECT_EQ(rates.disks.unavailable, "");
  EXPECT_EQ(rates.processes.unavailable, "");
  ASSERT_THAT(rates.processes.top_by_bios, SizeIs(1));
  EXPECT_THAT(rates.processes.top_by_bios[0].bios_per_second, DoubleNear(5.0, 1e-9));
  now_ = At(14);  // 12 s without an update: old numbers are not shown as current
  rates = live.Rates();
  EXPECT_THAT(rates.disks.unavailable, ::testing::HasSubstr("No /proc/diskstats reading for 12 s"));
  EXPECT_THAT(rates.processes.unavailable, ::testing::HasSubstr("No update"));
}

}  // namespace
}  // namespace diskidle
