#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

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

TEST(UtilizationSamplerTest, SamplesTheFileInTheBackgroundAndStopsPromptly) {
  TempProcfs procfs;
  procfs.WriteDiskstats(Line("sda", 0));
  UtilizationSampler sampler(procfs.dir(), absl::Seconds(10), absl::Milliseconds(100));
  sampler.Start();  // first sample now
  EXPECT_THAT(sampler.Ratios(), IsEmpty());
  // Pretend the disk was busy "forever": the ratio is clamped to 1 once a second sample lands.
  procfs.WriteDiskstats(Line("sda", 1'000'000));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sampler.Ratios().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(sampler.Ratios(), UnorderedElementsAre(Pair("sda", 1.0)));

  auto before = std::chrono::steady_clock::now();
  sampler.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(500));
}

TEST(UtilizationSamplerTest, StopWithLongIntervalDoesNotWaitForIt) {
  TempProcfs procfs;
  procfs.WriteDiskstats(Line("sda", 0));
  auto before = std::chrono::steady_clock::now();
  {
    UtilizationSampler sampler(procfs.dir(), absl::Minutes(60), absl::Minutes(10));
    sampler.Start();
  }  // destructor stops
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(500));
}

TEST(UtilizationSamplerTest, MissingFileIsNotFatal) {
  UtilizationSampler sampler("/nonexistent-procfs", absl::Seconds(2), absl::Milliseconds(100));
  sampler.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_THAT(sampler.Ratios(), IsEmpty());
  sampler.Stop();
  sampler.Stop();  // idempotent
}

}  // namespace
}  // namespace diskidle
