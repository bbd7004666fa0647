// What iostat calls %util: the fraction of wall time a disk had I/O in flight,
// over a trailing window, from io_ticks in /proc/diskstats sampled periodically.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "procfs/diskstats.h"

namespace diskidle {

// Pure logic, no clock or file access: feed samples, read ratios.
class UtilizationWindow {
 public:
  explicit UtilizationWindow(absl::Duration window);

  // Records io_time_ms of every disk at `now`. Samples older than the window
  // (keeping one at or before its start) are dropped.
  void AddSample(absl::Time now, const std::vector<DiskStats>& disks);

  // Busy fraction per device over the oldest..newest retained sample, in [0, 1].
  // A device needs two samples; a counter that went backwards (device
  // re-created) restarts its history.
  std::map<std::string, double> Ratios() const;

 private:
  absl::Duration window_;
  std::map<std::string, std::deque<std::pair<absl::Time, uint64_t>>> history_;
};

// Reads <procfs>/diskstats into a window on each SampleOnce(). It has no thread
// of its own: the caller runs SampleOnce() periodically (util/PeriodicThread),
// and tests call it directly with an injected clock.
class UtilizationSampler {
 public:
  using Clock = std::function<absl::Time()>;
  // A monotonic clock (steady_clock): wall-clock steps must not distort ratios.
  static absl::Time MonotonicNow();

  UtilizationSampler(std::string procfs_path, absl::Duration window,
                     Clock clock = &UtilizationSampler::MonotonicNow);

  // Reads the file once and records it at clock(). Returns the read's status;
  // malformed lines are skipped here (the diskstats collector reports them).
  // With `disks`, also hands over what it read (for the page at /).
  absl::Status SampleOnce(std::vector<DiskStats>* disks = nullptr);

  // Safe to call while another thread runs SampleOnce().
  std::map<std::string, double> Ratios() const;

 private:
  const std::string path_;
  const Clock clock_;
  mutable std::mutex mu_;
  UtilizationWindow window_;  // guarded by mu_
};

}  // namespace diskidle
