// A point-in-time copy of the BPF maps of bio_stats.bpf.c, summed over CPUs,
// behind an interface so the collector can be tested without root.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "bio_stats.h"
#include "bpf/program_stats.h"

namespace diskidle {

struct BioCount {
  bio_key key{};
  uint64_t bios = 0;
  uint64_t bytes = 0;
};

// (tgid, start_boottime_ns): one process, even across PID reuse.
using ProcessId = std::pair<uint32_t, uint64_t>;

// The Kubernetes labels of one cgroup, sanitized (model/label_text.h); all
// empty for a host process or a cgroup that could not be resolved.
struct CgroupLabels {
  std::string namespace_name;
  std::string pod;
  std::string container;
  bool operator==(const CgroupLabels&) const = default;
};

struct BioSnapshot {
  std::vector<BioCount> counts;
  std::map<ProcessId, std::string> comms;  // from the kernel's process table
  std::array<uint64_t, DISKIDLE_DROP_REASONS> drops{};
  uint32_t bio_map_capacity = 0;
  uint32_t process_map_capacity = 0;
  uint32_t process_map_entries = 0;
  // Kernel accounting of the attached program (0 unless kernel.bpf_stats_enabled=1).
  std::string program_name;
  uint64_t program_run_time_ns = 0;
  uint64_t program_run_count = 0;
  // Runs the kernel skipped because the program was already running on that
  // CPU (a bio submitted from an interrupt during our run): lost events.
  uint64_t program_recursion_misses = 0;
  // The same for every other program of the bio object that is loaded: the
  // task hooks and the writeback and journal attribution hooks, which an
  // fsync()-bound workload runs more often than the bio program.
  std::vector<ProgramRunStats> hook_programs;
  // Cgroup ids of recent dirtiers of page-cache pages (bio_stats.h,
  // dirtier_cgroups): each once, no 0. Their pages are written back later,
  // perhaps after the cgroup is gone; the collector looks their labels up now.
  std::vector<uint64_t> dirtier_cgroups;
  // Not from the kernel: the collector fills it, when a view has a namespace,
  // pod or container label, with the labels of every cgroup id in `counts`.
  absl::flat_hash_map<uint64_t, CgroupLabels> cgroup_labels;
};

class BioMaps {
 public:
  virtual ~BioMaps() = default;
  virtual absl::StatusOr<BioSnapshot> Snapshot() = 0;
  // Removes the kernel entries of processes that are gone (their counts have
  // been saved by the caller first).
  virtual absl::Status Forget(const std::vector<ProcessId>& processes) = 0;
};

}  // namespace diskidle
