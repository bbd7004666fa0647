// Turns snapshots of the kernel's per-process counts into series that
// Prometheus can trust (docs/metrics.md, "How the numbers stay exact"):
//
//  - The complete view counts every bio exactly once, keyed by (device, comm,
//    syscall, op): bounded by the number of names, not of processes. Each
//    update adds the *change* of every kernel entry since the previous update
//    to the series of that entry's labels, so a process that exits, is
//    removed from the kernel maps or restarts under a new pid moves nothing:
//    a series only grows, and only by bios that happened since the last update.
//  - The per-process view holds plain counters for the top `max_processes`
//    live processes by recent activity. A process's counters grow only while
//    it holds a slot (they never absorb what it did before), keep their value
//    while it is out of the top, and end `exited_process_ttl` after it exits.
//    They are never folded into another series.
//
// Kernel entries of exited processes are removed after the TTL (the caller
// does it with the list Update returns); entries that reappear for a removed
// process are the per-CPU cache's pending counts, already counted, and ignored.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "bpf/bio_snapshot.h"

namespace diskidle {

// Counts of one series: log2 size buckets (bio_stats.h), bios and bytes.
struct SeriesCounts {
  std::array<uint64_t, DISKIDLE_SIZE_BUCKETS> buckets{};
  uint64_t bios = 0;
  uint64_t bytes = 0;
  void Add(const SeriesCounts& other);
  uint64_t zero_byte_bios() const { return buckets[0]; }
  bool operator==(const SeriesCounts&) const = default;
};

// The labels a bio can carry. Empty strings are labels a view leaves out.
struct SeriesKey {
  std::string device;
  std::string pid;
  std::string comm;
  std::string syscall;
  std::string op;
  auto operator<=>(const SeriesKey&) const = default;
};

// Which labels a view keeps (collectors.bio.labels / process_labels).
struct LabelSet {
  bool device = true;
  bool pid = false;
  bool comm = true;
  bool syscall = true;
  bool op = true;
  SeriesKey Project(SeriesKey key) const;
  bool operator==(const LabelSet&) const = default;
};

// What one update counted for one kernel entry, under the entry's full labels
// (device, pid, comm, syscall, op): for views of recent activity (the page at /).
struct LedgerChange {
  SeriesKey key;
  uint64_t bios = 0;
  uint64_t zero_byte_bios = 0;
};

struct LedgerLimits {
  absl::Duration exited_process_ttl;
  int max_processes = 0;  // 0: no per-process view
  int max_comms = 0;
};

// What /proc says about a process.
enum class Liveness {
  kAlive,
  kExited,   // no such pid, or the pid belongs to a newer process
  kUnknown,  // the read failed for another reason: ask again next time
};

class ProcessLedger {
 public:
  using LivenessCheck = std::function<Liveness(const ProcessId&)>;
  using DeviceName = std::function<std::string(uint32_t dev)>;

  ProcessLedger(LedgerLimits limits, LabelSet complete_labels, LabelSet process_labels);
  void SetLimits(LedgerLimits limits) { limits_ = limits; }

  // Applies one snapshot taken at `now`. Returns the processes whose kernel
  // entries the caller should remove (exited longer than the TTL). With
  // `changes`, appends there what this update counted (every bio once).
  std::vector<ProcessId> Update(const BioSnapshot& snapshot, absl::Time now,
                                const LivenessCheck& liveness, const DeviceName& device_name,
                                std::vector<LedgerChange>* changes = nullptr);

  // The complete view, projected on its labels.
  const std::map<SeriesKey, SeriesCounts>& complete() const { return complete_; }
  // The per-process view, projected on its labels (empty when max_processes is 0).
  std::map<SeriesKey, SeriesCounts> ProcessSeries() const;
  // The same series, visited without building the map when the view has a pid
  // label (each series is then one process's own); in no particular order.
  void ForEachProcessSeries(
      const std::function<void(const SeriesKey&, const SeriesCounts&)>& visit) const;

  size_t tracked_processes() const { return processes_.size(); }
  size_t processes_in_view() const;
  uint64_t evictions() const { return evictions_; }

 private:
  struct Process {
    std::string comm;            // sanitized, fixed at first sight
    std::string aggregate_comm;  // comm, or "other" beyond max_comms (sticky)
    uint64_t bios = 0;           // at the last update: still counting means alive
    double activity = 0;         // decaying bios count, for the top-N choice
    bool in_view = false;
    absl::Time in_view_since;
    bool exited = false;
    absl::Time exited_at;
    // Per (device, syscall, op): what the per-process view shows of it.
    std::map<SeriesKey, SeriesCounts> shown;
  };
  struct EntryCounts {
    uint64_t bios = 0;
    uint64_t bytes = 0;
  };

  std::string AggregateComm(const std::string& comm);
  SeriesKey FullKey(const BioCount& count, const Process& process,
                    const DeviceName& device_name) const;
  void Expire(const ProcessId& id, std::vector<ProcessId>& to_forget);
  void LeaveView(Process& process);
  void ChooseTopProcesses(absl::Time now);

  LedgerLimits limits_;
  const LabelSet complete_labels_;
  const LabelSet process_labels_;
  absl::Time last_update_ = absl::InfinitePast();

  std::map<ProcessId, Process> processes_;
  // Kernel counts of each entry at the last update: the base of the next change.
  absl::flat_hash_map<std::string, EntryCounts> last_counts_;
  // Removed from the kernel maps; entries seen again are already counted.
  std::set<ProcessId> forgotten_;
  std::set<std::string> aggregate_comms_;
  std::map<SeriesKey, SeriesCounts> complete_;
  // Per-process counters of processes that left the view, when the view has
  // no pid label: their series live on in the sum (they must not decrease).
  std::map<SeriesKey, SeriesCounts> departed_;
  uint64_t evictions_ = 0;
};

}  // namespace diskidle
