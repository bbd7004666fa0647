// The syscall views (collectors.syscalls, docs/metrics.md), built at scrape
// time from a snapshot of syscall_stats.bpf.c's maps through a SyscallLedger,
// for the most active live processes (max_processes), by device, pid, comm
// and syscall:
//  - diskidle_syscall_duration_seconds: histogram, count = calls, sum = time;
//  - diskidle_syscall_write_bytes: histogram of the bytes the write family
//    returned (le="0": zero-byte writes), in collectors.bio.size_buckets_bytes;
//  - diskidle_syscall_errors_total: calls that failed;
// plus diskidle_syscall_events_dropped_total.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/syscall_snapshot.h"
#include "collectors/collector.h"
#include "config/config.h"

namespace diskidle {

class SyscallCollector : public Collector {
 public:
  // `maps` must outlive the collector. diskstats under `procfs_path` names the
  // disks; `size_buckets_bytes` are the write size histogram's bounds.
  SyscallCollector(const SyscallCollectorConfig& config, std::vector<uint64_t> size_buckets_bytes,
                   std::string procfs_path, SyscallMaps* maps);
  ~SyscallCollector() override;

  std::string_view Name() const override { return "syscalls"; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;
  absl::Status CollectText(std::string& out) override;

  // Applies a snapshot without a scrape, so exited processes leave the kernel
  // maps on a node nobody scrapes.
  absl::Status Housekeep();

  // Applies reloadable settings (SIGHUP); counts are kept.
  void SetConfig(const SyscallCollectorConfig& config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The `le` text of each duration bound of the kernel's buckets, in seconds.
const std::vector<std::string_view>& SyscallDurationLe();

}  // namespace diskidle
