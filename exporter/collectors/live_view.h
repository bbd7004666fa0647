// The rolling window behind the landing page (/): per-disk rates from the
// diskstats readings the utilization sampler already takes, and per-process
// bio rates from the changes the bio collector's updates already compute
// (housekeeping every second, and each scrape). It reads nothing itself: no
// extra BPF snapshot, no extra file read, and a scrape never waits for it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collectors/process_ledger.h"
#include "collectors/utilization_sampler.h"
#include "model/live_rates.h"
#include "procfs/diskstats.h"

namespace diskidle {

// Pure: per-disk rates between the oldest and the newest reading of a
// trailing window. Like UtilizationWindow (which it uses for %util), it keeps
// one reading at or before the window's start, so the rates cover the whole
// window once there is that much history.
class DiskRateWindow {
 public:
  explicit DiskRateWindow(absl::Duration window);
  void Add(absl::Time now, const std::vector<DiskStats>& disks);
  // Disks with two readings, by name; `window` is the longest span among them.
  DiskRatesView Rates() const;
  std::optional<absl::Time> newest() const { return newest_; }

 private:
  struct Reading {
    absl::Time at;
    uint64_t writes_completed = 0;
    uint64_t sectors_written = 0;
    uint64_t flush_requests = 0;
    bool has_flushes = false;  // 20-field diskstats (5.5+)
  };
  absl::Duration window_;
  UtilizationWindow utilization_;
  std::map<std::string, std::deque<Reading>> history_;
  std::optional<absl::Time> newest_;
};

// Pure: the bio collector's per-update changes, summed per (device, pid,
// comm, syscall) over a trailing window, and the busiest of them.
class ProcessActivityWindow {
 public:
  ProcessActivityWindow(absl::Duration window, size_t top);
  // What one update counted, at `now`. The first update only starts the
  // window: its counts reach back to an unknown time (the program's attach).
  void Add(absl::Time now, const std::vector<LedgerChange>& changes);
  // Rates = bios counted in the retained updates / the time they cover.
  ProcessRatesView Rates() const;
  std::optional<absl::Time> newest() const { return newest_; }

 private:
  struct Key {
    std::string device;
    std::string pid;
    std::string comm;
    std::string syscall;
    auto operator<=>(const Key&) const = default;
  };
  struct Counts {
    uint64_t bios = 0;
    uint64_t zero_byte_bios = 0;
  };
  // What one update counted since the update before it.
  struct Interval {
    absl::Time start;
    absl::Time end;
    std::map<Key, Counts> counts;
  };
  absl::Duration window_;
  size_t top_;
  std::optional<absl::Time> newest_;
  std::deque<Interval> intervals_;
};

// The two windows behind a lock, fed from the sampler's and the bio
// collector's threads and read by the page's handler.
class LiveView {
 public:
  using Clock = std::function<absl::Time()>;
  struct Options {
    bool disks_collected = true;      // collectors.diskstats.enabled
    bool processes_collected = true;  // collectors.bio.enabled
    absl::Duration window = absl::Seconds(10);
    size_t top = 10;
    Clock clock = &UtilizationSampler::MonotonicNow;
  };
  explicit LiveView(Options options);

  void ObserveDisks(const std::vector<DiskStats>& disks);
  void ObserveBios(const std::vector<LedgerChange>& changes);
  // Says why a part is unavailable instead of showing old numbers: its
  // collector is off, it has no two readings yet, or its feed stopped.
  LiveRates Rates() const;

 private:
  const Options options_;
  mutable std::mutex mu_;
  DiskRateWindow disks_;             // guarded by mu_
  ProcessActivityWindow processes_;  // guarded by mu_
};

}  // namespace diskidle
