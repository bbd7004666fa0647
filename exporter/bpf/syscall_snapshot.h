// A point-in-time copy of the BPF maps of syscall_stats.bpf.c, summed over
// CPUs, behind an interface so the collector can be tested without root.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/bio_snapshot.h"
#include "syscall_stats.h"

namespace diskidle {

// The counts of one (process, disk, syscall), or of one series.
struct SyscallCounts {
  std::array<uint64_t, DISKIDLE_SYSCALL_DURATION_BUCKETS> duration_buckets{};
  uint64_t duration_ns = 0;
  std::array<uint64_t, DISKIDLE_SIZE_BUCKETS> size_buckets{};  // bio_stats.h buckets
  uint64_t bytes = 0;
  uint64_t errors = 0;

  void Add(const SyscallCounts& other);
  void Add(const syscall_value& cpu_value);  // one CPU's slot of the kernel map
  // Every call, failed ones included.
  uint64_t calls() const;
  // Write-family calls that succeeded (the write size histogram's count).
  uint64_t writes() const;
  bool operator==(const SyscallCounts&) const = default;
};

struct SyscallCount {
  syscall_key key{};
  SyscallCounts counts;
};

struct SyscallSnapshot {
  std::vector<SyscallCount> counts;
  std::map<ProcessId, std::string> comms;  // from the program's process table
  std::array<uint64_t, DISKIDLE_SYSCALL_DROP_REASONS> drops{};
  uint32_t map_capacity = 0;
  uint32_t process_map_capacity = 0;
  uint32_t process_map_entries = 0;
  std::vector<ProgramRunStats> programs;  // every loaded entry and exit program
};

class SyscallMaps {
 public:
  virtual ~SyscallMaps() = default;
  virtual absl::StatusOr<SyscallSnapshot> Snapshot() = 0;
  // Removes the kernel entries of processes that are gone.
  virtual absl::Status Forget(const std::vector<ProcessId>& processes) = 0;
};

}  // namespace diskidle
