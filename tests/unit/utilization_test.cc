#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "collectors/utilization_sampler.h"

namespace diskidle {
namespace {

using ::testing::DoubleNear;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

DiskStats Disk(const std::string& name, uint64_t io_time_ms) {
  DiskStats d;
  d.name = name;
  d.field_count = 20;
  d.io_time_ms = io_time_ms;
  return d;
}

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

TEST(UtilizationWindowTest, NeedsTwoSamples) {
  UtilizationWindow w(absl::Seconds(10));
  EXPECT_THAT(w.Ratios(), IsEmpty());
  w.AddSample(kT0, {Disk("sda", 100)});
  EXPECT_THAT(w.Ratios(), IsEmpty());
  w.AddSample(kT0 + absl::Seconds(1), {Disk("sda", 600)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.5, 1e-9))));
}

TEST(UtilizationWindowTest, RatioCoversTheTrailingWindowOnly) {
  UtilizationWindow w(absl::Seconds(10));
  // 10 s fully busy, then 10 s idle: after the idle period the window shows 0.
  uint64_t busy = 0;
  for (int s = 0; s <= 10; ++s) {
    w.AddSample(kT0 + absl::Seconds(s), {Disk("sda", busy)});
    busy += 1000;
  }
  busy -= 1000;
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(1.0, 1e-9))));
  for (int s = 11; s <= 20; ++s) w.AddSample(kT0 + absl::Seconds(s), {Disk("sda", busy)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.0, 1e-9))));
  // Half-way: 5 s of the last 10 were busy.
  UtilizationWindow half(absl::Seconds(10));
  for (int s = 0; s <= 15; ++s) {
    uint64_t b = s <= 10 ? s * 1000 : 10000;
    half.AddSample(kT0 + absl::Seconds(s), {Disk("sda", b)});
  }
  EXPECT_THAT(half.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.5, 1e-9))));
}

TEST(UtilizationWindowTest, ClampsJiffyOvershootToOne) {
  UtilizationWindow w(absl::Seconds(10));
  w.AddSample(kT0, {Disk("sda", 0)});
  w.AddSample(kT0 + absl::Seconds(1), {Disk("sda", 1004)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", 1.0)));
}

TEST(UtilizationWindowTest, CounterResetRestartsHistory) {
  UtilizationWindow w(absl::Seconds(10));
  w.AddSample(kT0, {Disk("loop0", 5000)});
  w.AddSample(kT0 + absl::Seconds(1), {Disk("loop0", 5500)});
  // Device re-created: io_ticks back near zero. No negative or huge ratio.
  w.AddSample(kT0 + absl::Seconds(2), {Disk("loop0", 10)});
  EXPECT_THAT(w.Ratios(), IsEmpty());
  w.AddSample(kT0 + absl::Seconds(3), {Disk("loop0", 260)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("loop0", DoubleNear(0.25, 1e-9))));
}

TEST(UtilizationWindowTest, DevicesComeAndGo) {
  UtilizationWindow w(absl::Seconds(10));
  w.AddSample(kT0, {Disk("sda", 0), Disk("loop0", 0)});
  w.AddSample(kT0 + absl::Seconds(1), {Disk("sda", 100), Disk("loop0", 1000)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.1, 1e-9)),
                                               Pair("loop0", DoubleNear(1.0, 1e-9))));
  w.AddSample(kT0 + absl::Seconds(2), {Disk("sda", 200)});
  EXPECT_THAT(w.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.1, 1e-9))));
}

class TempProcfs {
 public:
  TempProcfs() {
    char dir_template[] = "/tmp/diskidle-util-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  ~TempProcfs() {
    std::remove((dir_ + "/diskstats").c_str());
    rmdir(dir_.c_str());
  }
  // Replaces the file atomically so the sampler never reads half a file.
  void WriteDiskstats(const std::string& text) {
    std::string tmp = dir_ + "/diskstats.tmp";
    { std::ofstream(tmp) << text; }
    std::rename(tmp.c_str(), (dir_ + "/diskstats").c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::string Line(const std::string& name, uint64_t io_ticks) {
  return "8 0 " + name + " 1 0 8 1 1 0 8 1 0 " + std::to_string(io_ticks) + " 2\n";
}

TEST(UtilizationSamplerTest, SampleOnceReadsTheFileAtTheInjectedClock) {
  TempProcfs procfs;
  absl::Time now = kT0;
  UtilizationSampler sampler(procfs.dir(), absl::Seconds(10), [&now] { return now; });
  procfs.WriteDiskstats(Line("sda", 0));
  ASSERT_TRUE(sampler.SampleOnce().ok());
  EXPECT_THAT(sampler.Ratios(), IsEmpty()) << "one sample is no ratio";
  // 500 ms busy in 2 s of the injected clock: 0.25, so the clock is the one used.
  now += absl::Seconds(2);
  procfs.WriteDiskstats(Line("sda", 500));
  ASSERT_TRUE(sampler.SampleOnce().ok());
  EXPECT_THAT(sampler.Ratios(), UnorderedElementsAre(Pair("sda", DoubleNear(0.25, 1e-9))));
}

TEST(UtilizationSamplerTest, MissingFileFailsAndRecordsNothing) {
  absl::Time now = kT0;
  UtilizationSampler sampler("/nonexistent-procfs", absl::Seconds(2), [&now] { return now; });
  absl::Status status = sampler.SampleOnce();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("/nonexistent-procfs/diskstats"));
  now += absl::Seconds(1);
  EXPECT_FALSE(sampler.SampleOnce().ok());
  EXPECT_THAT(sampler.Ratios(), IsEmpty());
}

TEST(UtilizationSamplerTest, DefaultClockIsMonotonic) {
  absl::Time a = UtilizationSampler::MonotonicNow();
  absl::Time b = UtilizationSampler::MonotonicNow();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace diskidle
