#include "util/periodic_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace diskidle {
namespace {

using Clock = std::chrono::steady_clock;

// Polls `done` for up to `limit`; the machine is shared, so limits are generous
// and only bound a hang, never a speed.
template <typename Fn>
bool PollFor(std::chrono::seconds limit, Fn done) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(PeriodicThreadTest, RunsAtOnceThenEveryPeriod) {
  std::atomic<int> ticks{0};
  PeriodicThread thread(absl::Milliseconds(10), [&ticks] { ++ticks; });
  EXPECT_TRUE(PollFor(std::chrono::seconds(30), [&] { return ticks.load() >= 3; }))
      << "ticks: " << ticks.load();
}

TEST(PeriodicThreadTest, FirstRunDoesNotWaitForThePeriod) {
  std::atomic<int> ticks{0};
  PeriodicThread thread(absl::Hours(1), [&ticks] { ++ticks; });
  EXPECT_TRUE(PollFor(std::chrono::seconds(30), [&] { return ticks.load() == 1; }));
}

TEST(PeriodicThreadTest, StopDoesNotWaitForThePeriodAndEndsTheTicks) {
  std::atomic<int> ticks{0};
  PeriodicThread thread(absl::Hours(1), [&ticks] { ++ticks; });
  ASSERT_TRUE(PollFor(std::chrono::seconds(30), [&] { return ticks.load() == 1; }));
  // An hour-long period: if Stop() waited for the period, this would hang
  // until ctest's timeout instead of returning.
  thread.Stop();
  thread.Stop();  // idempotent
  EXPECT_EQ(ticks.load(), 1);
}

TEST(PeriodicThreadTest, StopWaitsForATickInProgress) {
  std::atomic<bool> in_tick{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> release{false};
  PeriodicThread thread(absl::Hours(1), [&] {
    in_tick = true;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished = true;
  });
  ASSERT_TRUE(PollFor(std::chrono::seconds(30), [&] { return in_tick.load(); }));
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  thread.Stop();
  EXPECT_TRUE(finished.load()) << "Stop() returned while the tick was still running";
  releaser.join();
}

TEST(PeriodicThreadTest, DestructorStops) {
  std::atomic<int> ticks{0};
  {
    PeriodicThread thread(absl::Hours(1), [&ticks] { ++ticks; });
    ASSERT_TRUE(PollFor(std::chrono::seconds(30), [&] { return ticks.load() == 1; }));
  }
  EXPECT_EQ(ticks.load(), 1);
}

}  // namespace
}  // namespace diskidle
