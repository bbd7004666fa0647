// Turns snapshots of the kernel's per-process counts into series that
// Prometheus can trust (docs/metrics.md, "How the numbers stay exact"):
//
//  - The complete view counts every bio exactly once, keyed by (device, comm,
//    syscall, op): bounded by the number of names, not of processes. Each
//    update adds the *change* of every kernel entry since the previous update
//    to the series of that entry's labels, so a process that exits, is
//    removed from the kernel maps or restarts under a new pid moves nothing:
//    a series only grows, and only by bios that happened since the last update.
//    A process that renames itself (exec(), prctl) counts under its new name
//    from the update that first sees it (up to kMaxNamesPerProcess names): the
//    old name's series keep their value, nothing moves between names.
//  - The per-process view holds plain counters for the top `max_processes`
//    live processes by recent activity. A process's counters grow only while
//    it holds a slot (they never absorb what it did before), keep their value
//    while it is out of the top, and end `exited_process_ttl` after it exits.
//    They are never folded into another series.
//
// Kernel entries of exited processes are removed after the TTL (the caller
// does it with the list Update returns); entries that reappear for a removed
// process are the per-CPU cache's pending counts, already counted, and ignored.
//
// The same rules serve every per-process count the exporter keeps: the
// ledger is a template over the kernel's entries and their counts (Traits),
// instantiated for bios here (ProcessLedger) and for syscalls in
// collectors/syscall_ledger.h. The rules themselves live once, in
// process_ledger_impl.h.
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
  // The submitting thread's name (bounded by max_threads), when recorded.
  // (Initialised so that keys written with the five labels above stay valid.)
  std::string thread = {};
  // Kubernetes labels of the bio's cgroup; empty for host processes.
  std::string namespace_name = {};
  std::string pod = {};
  std::string container = {};
  auto operator<=>(const SeriesKey&) const = default;
};

// Which labels a view keeps (collectors.bio.labels / process_labels).
struct LabelSet {
  bool device = true;
  bool pid = false;
  bool comm = true;
  bool syscall = true;
  bool op = true;
  bool thread = false;
  bool namespace_name = false;
  bool pod = false;
  bool container = false;
  SeriesKey Project(SeriesKey key) const;
  bool operator==(const LabelSet&) const = default;
};


// What one update counted for one kernel entry of the bio ledger, under the
// entry's full labels (device, pid, comm, syscall, op): for views of recent
// activity (the page at /).
struct LedgerChange {
  SeriesKey key;
  uint64_t bios = 0;
  uint64_t zero_byte_bios = 0;
};

struct LedgerLimits {
  absl::Duration exited_process_ttl;
  int max_processes = 0;  // 0: no per-process view
  int max_comms = 0;
  int max_threads = 0;
};

// What /proc says about a process.
enum class Liveness {
  kAlive,
  kExited,   // no such pid, or the pid belongs to a newer process
  kUnknown,  // the read failed for another reason: ask again next time
};

using DeviceNameFn = std::function<std::string(uint32_t dev)>;

// How full the kernel maps behind a snapshot are (a capacity of 0: unknown).
struct MapFill {
  size_t entries = 0;  // the counts map
  size_t capacity = 0;
  size_t process_entries = 0;  // the process-name map
  size_t process_capacity = 0;
};

// What the ledger needs to know about one kind of kernel entry:
//   Snapshot         has `counts` (a vector of Entry) and `comms` (ProcessId -> comm);
//   Counts           a series' counts: Add(), operator==;
//   Raw              what is kept of an entry between updates to compute its change;
//   Id(entry)        the entry's process; EntryId(entry) its identity as bytes;
//   RawOf(entry)     its kernel counts; Since(entry, last) their change since `last`
//                    (an entry whose count went down was removed and made anew);
//   Events(entry)    its calls or bios so far, the measure of a process's activity;
//   Key(snapshot, entry, name) its labels other than pid and comm (a raw,
//                    unbounded thread name);
//   Fill(snapshot)   how full its kernel maps are (MapFill);
//   kHasOp           whether keys carry an op.
template <typename Traits>
class BasicProcessLedger {
 public:
  using Snapshot = typename Traits::Snapshot;
  using Entry = typename Traits::Entry;
  using Counts = typename Traits::Counts;
  using LivenessCheck = std::function<Liveness(const ProcessId&)>;
  using DeviceName = DeviceNameFn;

  BasicProcessLedger(LedgerLimits limits, LabelSet complete_labels, LabelSet process_labels);
  void SetLimits(LedgerLimits limits) { limits_ = limits; }

  // What one update counted for one kernel entry, under its full labels.
  using ChangeVisitor = std::function<void(const SeriesKey& full_key, const Counts& delta)>;

  // Applies one snapshot taken at `now`. Returns the processes whose kernel
  // entries the caller should remove (exited longer than the TTL). With
  // `on_change`, also tells it what this update counted (every event once).
  std::vector<ProcessId> Update(const Snapshot& snapshot, absl::Time now,
                                const LivenessCheck& liveness, const DeviceName& device_name,
                                const ChangeVisitor& on_change = nullptr);

  // Ends the series of devices that have left the system (DeviceNames::TakeGone):
  // the complete view's, and the per-process view's when it has a device label
  // (without one, a series sums every device and must not go down). Nothing
  // can count for a removed device any more, so no series shrinks.
  void ForgetDevices(const std::vector<std::string>& devices);

  // The complete view, projected on its labels.
  const std::map<SeriesKey, Counts>& complete() const { return complete_; }
  // The per-process view, projected on its labels (empty when max_processes is 0).
  std::map<SeriesKey, Counts> ProcessSeries() const;
  // The same series, visited without building the map when the view has a pid
  // label (each series is then one process's own); in no particular order.
  void ForEachProcessSeries(
      const std::function<void(const SeriesKey&, const Counts&)>& visit) const;

  size_t tracked_processes() const { return processes_.size(); }
  // The per-process view sums a pod's processes (a pod label, no pid).
  bool keyed_by_pod() const { return process_labels_.pod && !process_labels_.pid; }
  size_t processes_in_view() const;
  uint64_t evictions() const { return evictions_; }
  // Exited processes removed before their TTL because the kernel maps were
  // nearly full (ExpireUnderPressure).
  uint64_t early_expiries() const { return early_expiries_; }

 private:
  struct Process {
    std::string raw_comm;        // the kernel's latest name for it; empty if none
    std::string comm;            // raw_comm sanitized, or "unknown"
    int names = 1;               // names taken so far (kMaxNamesPerProcess)
    std::string aggregate_comm;  // comm, or "other" beyond max_comms names
    uint64_t events = 0;         // at the last update: still counting means alive
    double activity = 0;         // decaying events count, for the top-N choice
    bool in_view = false;
    absl::Time in_view_since;
    bool exited = false;
    absl::Time exited_at;
    // Per (device, syscall, op): what the per-process view shows of it.
    std::map<SeriesKey, Counts> shown;
    // (namespace, pod) of its counts, when the per-process view is keyed by
    // pod instead of pid: the pod's series end once no such process is left.
    std::set<std::pair<std::string, std::string>> pods;
  };

  std::string AggregateComm(const std::string& comm);
  // The kernel's name `raw` (non-empty) becomes the process's comm.
  void TakeName(Process& process, const std::string& raw);
  std::string ThreadLabel(const std::string& raw);
  SeriesKey FullKey(const Snapshot& snapshot, const Entry& entry, const Process& process,
                    const DeviceName& device_name);
  void Expire(const ProcessId& id, std::vector<ProcessId>& to_forget);
  void ExpireUnderPressure(const Snapshot& snapshot, std::vector<ProcessId>& to_forget);
  void LeaveView(Process& process);
  void ChooseTopProcesses(absl::Time now);
  void EndSeriesOfGonePods(absl::Time now);

  LedgerLimits limits_;
  const LabelSet complete_labels_;
  const LabelSet process_labels_;
  absl::Time last_update_ = absl::InfinitePast();

  std::map<ProcessId, Process> processes_;
  // Kernel counts of each entry at the last update: the base of the next change.
  absl::flat_hash_map<std::string, typename Traits::Raw> last_counts_;
  // Removed from the kernel maps; entries seen again are already counted.
  std::set<ProcessId> forgotten_;
  std::set<std::string> aggregate_comms_;
  // Raw thread names admitted (max_threads) -> their sanitized label; a name
  // once admitted keeps its label, so a thread's series never move.
  absl::flat_hash_map<std::string, std::string> thread_labels_;
  std::map<SeriesKey, Counts> complete_;
  // Per-process counters of processes that left the view, when the view has
  // no pid label: their series live on in the sum (they must not decrease)
  // until, with a pod label, the last process of their pod has expired.
  std::map<SeriesKey, Counts> departed_;
  // Pods whose processes left the kernel maps early (ExpireUnderPressure):
  // their series stay until the TTL after those processes exited.
  std::map<std::pair<std::string, std::string>, absl::Time> pod_held_until_;
  uint64_t evictions_ = 0;
  uint64_t early_expiries_ = 0;
};

// Bios: bio_counts entries of bio_stats.bpf.c, one size bucket each. Their
// namespace/pod/container come from the snapshot's cgroup_labels (filled by
// the collector), the thread from bio_key.thread.
struct BioLedgerTraits {
  using Snapshot = BioSnapshot;
  using Entry = BioCount;
  using Counts = SeriesCounts;
  struct Raw {
    uint64_t bios = 0;
    uint64_t bytes = 0;
  };
  static constexpr bool kHasOp = true;
  static ProcessId Id(const BioCount& count) {
    return {count.key.tgid, count.key.start_boottime_ns};
  }
  static std::string EntryId(const BioCount& count);
  static Raw RawOf(const BioCount& count) { return {count.bios, count.bytes}; }
  static SeriesCounts Since(const BioCount& count, const Raw& last);
  static uint64_t Events(const BioCount& count) { return count.bios; }
  static SeriesKey Key(const BioSnapshot& snapshot, const BioCount& count,
                       const DeviceNameFn& device_name);
  static MapFill Fill(const BioSnapshot& snapshot) {
    return {snapshot.counts.size(), snapshot.bio_map_capacity, snapshot.process_map_entries,
            snapshot.process_map_capacity};
  }
};

extern template class BasicProcessLedger<BioLedgerTraits>;
using ProcessLedger = BasicProcessLedger<BioLedgerTraits>;

}  // namespace diskidle
