// Keeps per-process series bounded without losing counts.
//
// The kernel map holds cumulative counts per (process, disk, op, syscall, size).
// Each update the ledger decides, per process, whether its counts are shown
// under its own pid or folded into the comm-level aggregate (pid=""):
//  - a process that has exited keeps its series for `exited_process_ttl`, then
//    its counts move into the aggregate and its kernel entries are removed;
//  - beyond `max_processes` processes with own series, the least active are
//    folded (for good: unfolding would make the aggregate go backwards);
//  - beyond `max_comms` distinct aggregate comms, new ones aggregate as "other".
// So every sum over pid stays exact and monotonic.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bpf/bio_snapshot.h"

namespace diskidle {

struct SeriesKey {
  std::string device;
  std::string pid;  // "" for the comm aggregate
  std::string comm;
  std::string syscall;
  std::string op;
  auto operator<=>(const SeriesKey&) const = default;
};

struct SeriesCounts {
  std::array<uint64_t, DISKIDLE_SIZE_BUCKETS> buckets{};  // kernel log2 buckets
  uint64_t bios = 0;
  uint64_t bytes = 0;
  void Add(const SeriesCounts& other);
};

// The bounds, as configured in collectors.bio (BioCollectorConfig holds the
// defaults; none are repeated here).
struct LedgerLimits {
  absl::Duration exited_process_ttl;
  int max_processes = 0;
  int max_comms = 0;
};

class ProcessLedger {
 public:
  using IsAlive = std::function<bool(const ProcessId&)>;
  using DeviceName = std::function<std::string(uint32_t dev)>;

  explicit ProcessLedger(LedgerLimits limits) : limits_(limits) {}
  void SetLimits(LedgerLimits limits) { limits_ = limits; }

  // Applies one snapshot taken at `now`. Returns the processes whose counts
  // are in the aggregate but still in the kernel maps: the caller removes them.
  // Until they are absent from a snapshot their kernel counts are ignored, so
  // a failed or late removal never counts them twice.
  std::vector<ProcessId> Update(const BioSnapshot& snapshot, absl::Time now,
                                const IsAlive& is_alive, const DeviceName& device_name);

  // All series for `snapshot` (the one last passed to Update): own and folded
  // kernel counts plus the retired aggregates.
  std::map<SeriesKey, SeriesCounts> Series(const BioSnapshot& snapshot,
                                           const DeviceName& device_name);

  // Processes the exporter currently knows in the kernel maps (live or in grace).
  size_t tracked_processes() const { return processes_.size(); }
  uint64_t folded_exited() const { return folded_exited_; }
  uint64_t folded_limit() const { return folded_limit_; }

 private:
  struct ProcessState {
    std::string comm;
    uint64_t bios = 0;  // at the last update: a process still counting is alive
    bool folded = false;
    bool dead = false;
    absl::Time dead_since;
  };

  // The comm label of an aggregate: itself while fewer than max_comms exist.
  std::string AggregateComm(const std::string& comm);
  SeriesKey KeyFor(const BioCount& count, const ProcessState& state,
                   const DeviceName& device_name);

  LedgerLimits limits_;
  std::map<ProcessId, ProcessState> processes_;
  std::set<ProcessId> retired_processes_;  // moved to aggregate, removal pending
  std::map<SeriesKey, SeriesCounts> retired_;
  std::set<std::string> aggregate_comms_;
  uint64_t folded_exited_ = 0;
  uint64_t folded_limit_ = 0;
};

}  // namespace diskidle
