// A thread that runs a callback at a fixed period until it is stopped.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace diskidle {

class PeriodicThread {
 public:
  // Starts a thread that runs `tick` at once, then every `period` (measured
  // from the previous scheduled run, on a monotonic clock). After a stall longer
  // than a period it does not catch up with a burst of runs. `period` must be
  // positive.
  PeriodicThread(absl::Duration period, std::function<void()> tick);
  ~PeriodicThread();  // Stop()

  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Wakes the thread and joins it: returns once a tick in progress has
  // finished, without waiting for the rest of the period. Idempotent.
  void Stop();

 private:
  void Run();

  const std::chrono::nanoseconds period_;
  const std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;     // last: started once everything above is set
};

}  // namespace diskidle
