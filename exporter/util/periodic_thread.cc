#include "util/periodic_thread.h"

#include <utility>

namespace diskidle {

PeriodicThread::PeriodicThread(absl::Duration period, std::function<void()> tick)
    : period_(absl::ToChronoNanoseconds(period)),
      tick_(std::move(tick)),
      thread_([this] { Run(); }) {}

PeriodicThread::~PeriodicThread() { Stop(); }

void PeriodicThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicThread::Run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  // wait_until returns true as soon as Stop() sets stopping_, whatever is left
  // of the period: no polling, and a stop never waits for a period to pass.
  while (!wake_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();  // Stop() may be called while the tick runs
    tick_();
    lock.lock();
    next += period_;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + period_;
  }
}

}  // namespace diskidle
