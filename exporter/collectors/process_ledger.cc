#include "collectors/process_ledger.h"

#include "model/label_text.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "model/bio_labels.h"
#include "model/syscall_class.h"

namespace diskidle {
namespace {

constexpr char kOverflowComm[] = "other";
constexpr char kUnknownComm[] = "unknown";

SeriesCounts CountsOf(const BioCount& count) {
  SeriesCounts counts;
  int bucket = std::min<int>(count.key.size_bucket, DISKIDLE_SIZE_BUCKETS - 1);
  counts.buckets[bucket] = count.bios;
  counts.bios = count.bios;
  counts.bytes = count.bytes;
  return counts;
}

}  // namespace

void SeriesCounts::Add(const SeriesCounts& other) {
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  bios += other.bios;
  bytes += other.bytes;
}

std::string ProcessLedger::AggregateComm(const std::string& comm) {
  if (aggregate_comms_.count(comm)) return comm;
  if (static_cast<int>(aggregate_comms_.size()) < limits_.max_comms) {
    aggregate_comms_.insert(comm);
    return comm;
  }
  return kOverflowComm;
}

SeriesKey ProcessLedger::KeyFor(const BioCount& count, const ProcessState& state,
                                const DeviceName& device_name) {
  SeriesKey key;
  key.device = device_name(count.key.dev);
  if (state.folded) {
    key.comm = AggregateComm(state.comm);
  } else {
    key.pid = absl::StrCat(count.key.tgid);
    key.comm = state.comm;
  }
  key.syscall = std::string(ClassifySyscall(count.key.syscall_nr));
  key.op = std::string(OpName(count.key.op));
  return key;
}

std::vector<ProcessId> ProcessLedger::Update(const BioSnapshot& snapshot, absl::Time now,
                                             const IsAlive& is_alive,
                                             const DeviceName& device_name) {
  // Activity per process in this snapshot, skipping already retired ones.
  std::set<ProcessId> in_kernel;
  std::map<ProcessId, uint64_t> activity;
  for (const BioCount& count : snapshot.counts) {
    ProcessId id{count.key.tgid, count.key.start_boottime_ns};
    in_kernel.insert(id);
    if (retired_processes_.count(id)) continue;
    activity[id] += count.bios;
  }
  // Retired processes whose kernel entries are gone need no more shielding;
  // those still there (a failed removal, or counts the BPF program's per-CPU
  // cache moved into the map after the removal) are removed again.
  std::erase_if(retired_processes_, [&](const ProcessId& id) { return !in_kernel.count(id); });
  std::vector<ProcessId> to_forget(retired_processes_.begin(), retired_processes_.end());

  // Learn new processes, forget those no longer in the kernel map, track deaths.
  for (auto it = processes_.begin(); it != processes_.end();) {
    it = activity.count(it->first) ? std::next(it) : processes_.erase(it);
  }
  for (const auto& [id, bios] : activity) {
    auto [it, inserted] = processes_.try_emplace(id);
    ProcessState& state = it->second;
    if (inserted) {
      auto comm = snapshot.comms.find(id);
      // Sanitized here, once, before any series is keyed by it: two raw names
      // that read the same afterwards then share one series instead of
      // making two with equal labels.
      state.comm = comm != snapshot.comms.end() && !comm->second.empty()
                       ? SanitizeLabelValue(comm->second)
                       : kUnknownComm;
    }
    // Only processes that counted nothing since the last update are looked up
    // in /proc: one that is still counting is alive (or has just exited, which
    // the next update notices), so busy nodes pay for idle processes only.
    bool counting = bios != state.bios;
    state.bios = bios;
    if (!state.dead && !counting && !is_alive(id)) {
      state.dead = true;
      state.dead_since = now;
    }
  }

  // Exited longer than the TTL: move counts to the aggregate.
  std::vector<ProcessId> expired;
  for (const auto& [id, state] : processes_) {
    if (state.dead && now - state.dead_since >= limits_.exited_process_ttl) {
      expired.push_back(id);
    }
  }
  if (!expired.empty()) {
    std::set<ProcessId> expiring(expired.begin(), expired.end());
    for (const BioCount& count : snapshot.counts) {
      ProcessId id{count.key.tgid, count.key.start_boottime_ns};
      if (!expiring.count(id)) continue;
      ProcessState folded = processes_[id];
      folded.folded = true;
      retired_[KeyFor(count, folded, device_name)].Add(CountsOf(count));
    }
    for (const ProcessId& id : expired) {
      if (!processes_[id].folded) ++folded_exited_;
      processes_.erase(id);
      retired_processes_.insert(id);
      to_forget.push_back(id);
    }
  }

  // Too many processes with own series: fold the least active, for good.
  std::vector<std::pair<uint64_t, ProcessId>> own;
  for (const auto& [id, state] : processes_) {
    if (!state.folded) own.push_back({activity[id], id});
  }
  if (static_cast<int>(own.size()) > limits_.max_processes) {
    std::sort(own.begin(), own.end());
    size_t excess = own.size() - static_cast<size_t>(std::max(limits_.max_processes, 0));
    for (size_t i = 0; i < excess; ++i) {
      processes_[own[i].second].folded = true;
      ++folded_limit_;
    }
  }
  return to_forget;
}

std::map<SeriesKey, SeriesCounts> ProcessLedger::Series(const BioSnapshot& snapshot,
                                                        const DeviceName& device_name) {
  std::map<SeriesKey, SeriesCounts> series = retired_;
  for (const BioCount& count : snapshot.counts) {
    auto it = processes_.find({count.key.tgid, count.key.start_boottime_ns});
    if (it == processes_.end()) continue;  // retired: already in the aggregate
    series[KeyFor(count, it->second, device_name)].Add(CountsOf(count));
  }
  return series;
}

}  // namespace diskidle
