// What iostat calls %util: the fraction of wall time a disk had I/O in flight,
// over a trailing window, from io_ticks in /proc/diskstats sampled in the background.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

// Runs a thread that reads <procfs>/diskstats every `interval` into a window.
class UtilizationSampler {
 public:
  UtilizationSampler(std::string procfs_path, absl::Duration window, absl::Duration interval);
  ~UtilizationSampler();  // stops the thread

  void Start();
  void Stop();
  std::map<std::string, double> Ratios() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle
