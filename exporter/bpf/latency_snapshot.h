// A point-in-time copy of disk_latency.bpf.c's maps, summed over CPUs, behind
// an interface so the collector can be tested without root.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/program_stats.h"
#include "disk_latency.h"

namespace diskidle {

struct LatencyHistogram {
  uint32_t dev = 0;  // whole disk, major << 20 | minor
  uint32_t op = 0;   // enum diskidle_latency_op
  std::array<uint64_t, DISKIDLE_LATENCY_BUCKETS> buckets{};  // per kernel bucket, not cumulative
  uint64_t sum_ns = 0;
};

struct LatencySnapshot {
  std::vector<LatencyHistogram> histograms;
  std::array<uint64_t, DISKIDLE_LAT_EVENTS> events{};  // enum diskidle_latency_event
  std::vector<ProgramRunStats> programs;  // its loaded program (block_rq_complete)
};

class LatencyMaps {
 public:
  virtual ~LatencyMaps() = default;
  virtual absl::StatusOr<LatencySnapshot> Snapshot() = 0;
  // Removes the histograms of these disks (whole-disk numbers, as in
  // LatencyHistogram::dev), every op; missing ones are no error.
  virtual absl::Status Forget(const std::vector<uint32_t>& devs) = 0;
};

}  // namespace diskidle
