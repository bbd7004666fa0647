// The ledger's rules (process_ledger.h), for every Traits. Included by the
// one .cc file that instantiates the ledger for each kind of entry.
#pragma once

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "collectors/process_ledger.h"
#include "model/label_text.h"

namespace diskidle {
namespace ledger_internal {

inline constexpr char kOverflowComm[] = "other";
inline constexpr char kUnknownComm[] = "unknown";
// Activity decays with this time constant: the top processes are the ones
// busy over the last minute or so, not since boot.
inline constexpr absl::Duration kActivityHalfLife = absl::Seconds(30);
// A process keeps its slot at least this long, so that two processes of
// similar activity do not take turns (each turn is a gap in both series).
inline constexpr absl::Duration kMinTimeInView = absl::Seconds(10);
// A newcomer takes a slot from a live process only when clearly busier.
inline constexpr double kEvictionFactor = 2.0;
// Kernel maps fuller than kPressureHigh (a burst of short-lived processes, each
// with entries until its TTL ends) shed exited processes, the longest gone
// first, down to kPressureLow: a full map drops every new process's bios.
inline constexpr double kPressureHigh = 0.75;
inline constexpr double kPressureLow = 0.5;
// A renamed process counts under its new name (exec(), prctl), and each name
// it does I/O under has series of its own in the per-process view; a process
// that keeps renaming itself keeps its name after this many, so its series
// stay bounded. A container's exec chain (runc:[2:INIT], its entrypoint
// script, gosu, the program) can take four, if each does I/O for a second.
inline constexpr int kMaxNamesPerProcess = 8;

}  // namespace ledger_internal

template <typename Traits>
BasicProcessLedger<Traits>::BasicProcessLedger(LedgerLimits limits, LabelSet complete_labels,
                                               LabelSet process_labels)
    : limits_(limits), complete_labels_(complete_labels), process_labels_(process_labels) {}

template <typename Traits>
std::string BasicProcessLedger<Traits>::AggregateComm(const std::string& comm) {
  if (aggregate_comms_.count(comm)) return comm;
  if (static_cast<int>(aggregate_comms_.size()) < limits_.max_comms) {
    aggregate_comms_.insert(comm);
    return comm;
  }
  return ledger_internal::kOverflowComm;
}

template <typename Traits>
void BasicProcessLedger<Traits>::TakeName(Process& process, const std::string& raw) {
  process.raw_comm = raw;
  // Sanitized once per name, before any series is keyed by it.
  process.comm = SanitizeLabelValue(raw);
  process.aggregate_comm = AggregateComm(process.comm);
}

template <typename Traits>
std::string BasicProcessLedger<Traits>::ThreadLabel(const std::string& raw) {
  if (auto it = thread_labels_.find(raw); it != thread_labels_.end()) return it->second;
  if (static_cast<int>(thread_labels_.size()) < limits_.max_threads) {
    // Sanitized once, when admitted, before any series is keyed by it.
    return thread_labels_.emplace(raw, SanitizeLabelValue(raw)).first->second;
  }
  return ledger_internal::kOverflowComm;
}

template <typename Traits>
SeriesKey BasicProcessLedger<Traits>::FullKey(const Snapshot& snapshot, const Entry& entry,
                                              const Process& process,
                                              const DeviceName& device_name) {
  SeriesKey key = Traits::Key(snapshot, entry, device_name);
  key.pid = absl::StrCat(Traits::Id(entry).first);
  key.comm = process.comm;
  // Bounded in both views: the per-process view is bounded by processes, but
  // one process can name any number of threads.
  if (!key.thread.empty()) key.thread = ThreadLabel(key.thread);
  return key;
}

template <typename Traits>
void BasicProcessLedger<Traits>::LeaveView(Process& process) {
  if (!process.in_view) return;
  process.in_view = false;
  // Without a pid label the process's counts are part of a sum that other
  // processes share: they stay in it. With one, its series simply ends, and
  // continues from the same value if the process comes back.
  if (!process_labels_.pid) {
    for (const auto& [key, counts] : process.shown) departed_[process_labels_.Project(key)].Add(counts);
    process.shown.clear();
  }
}

template <typename Traits>
void BasicProcessLedger<Traits>::Expire(const ProcessId& id, std::vector<ProcessId>& to_forget) {
  auto it = processes_.find(id);
  if (it == processes_.end()) return;
  LeaveView(it->second);
  processes_.erase(it);
  forgotten_.insert(id);
  to_forget.push_back(id);
}

template <typename Traits>
void BasicProcessLedger<Traits>::ChooseTopProcesses(absl::Time now) {
  const size_t limit = static_cast<size_t>(std::max(limits_.max_processes, 0));
  size_t in_view_count = 0;
  bool any_candidate = false;
  for (const auto& [id, process] : processes_) {
    in_view_count += process.in_view ? 1 : 0;
    any_candidate |= !process.in_view && !process.exited && process.activity > 0;
  }
  if (!any_candidate && in_view_count <= limit) return;
  std::vector<Process*> in_view;
  std::vector<Process*> candidates;
  for (auto& [id, process] : processes_) {
    if (process.in_view) {
      in_view.push_back(&process);
    } else if (!process.exited && process.activity > 0) {
      candidates.push_back(&process);
    }
  }
  // Fewer slots after a reload: the least active leave first.
  auto lower_priority = [](const Process* a, const Process* b) {
    if (a->exited != b->exited) return a->exited;  // exited ones go first
    return a->activity < b->activity;
  };
  std::sort(in_view.begin(), in_view.end(), lower_priority);
  size_t first_kept = 0;
  while (in_view.size() - first_kept > limit) LeaveView(*in_view[first_kept++]);
  in_view.erase(in_view.begin(), in_view.begin() + first_kept);

  std::sort(candidates.begin(), candidates.end(),
            [](const Process* a, const Process* b) { return a->activity > b->activity; });
  size_t next_victim = 0;  // in_view is sorted lowest priority first
  for (Process* candidate : candidates) {
    if (in_view.size() < limit) {
      candidate->in_view = true;
      candidate->in_view_since = now;
      in_view.push_back(candidate);
      continue;
    }
    // Take the slot of the least deserving holder, if the newcomer is clearly
    // busier and the holder had its slot long enough.
    // (An exited holder gives its slot up at once: its series only end early.)
    while (next_victim < in_view.size() && !in_view[next_victim]->exited &&
           now - in_view[next_victim]->in_view_since < ledger_internal::kMinTimeInView) {
      ++next_victim;
    }
    if (next_victim >= in_view.size()) break;
    Process* victim = in_view[next_victim];
    if (!victim->exited &&
        candidate->activity <= ledger_internal::kEvictionFactor * victim->activity) {
      break;
    }
    LeaveView(*victim);
    ++evictions_;
    candidate->in_view = true;
    candidate->in_view_since = now;
    in_view[next_victim++] = candidate;  // not a victim again this round
  }
}

template <typename Traits>
void BasicProcessLedger<Traits>::ForgetDevices(const std::vector<std::string>& devices) {
  if (devices.empty()) return;
  const std::set<std::string> gone(devices.begin(), devices.end());
  auto of_gone_device = [&gone](const auto& series) {
    return !series.first.device.empty() && gone.contains(series.first.device);
  };
  std::erase_if(complete_, of_gone_device);
  if (!process_labels_.device) return;
  std::erase_if(departed_, of_gone_device);
  for (auto& [id, process] : processes_) std::erase_if(process.shown, of_gone_device);
}

template <typename Traits>
std::vector<ProcessId> BasicProcessLedger<Traits>::Update(const Snapshot& snapshot,
                                                          absl::Time now,
                                                          const LivenessCheck& liveness,
                                                          const DeviceName& device_name,
                                                          const ChangeVisitor& on_change) {
  std::vector<ProcessId> to_forget;
  const double decay =
      last_update_ == absl::InfinitePast()
          ? 1.0
          : std::exp2(-absl::FDivDuration(std::max(now - last_update_, absl::ZeroDuration()),
                                          ledger_internal::kActivityHalfLife));
  last_update_ = now;

  // Entries of removed processes are ignored while they linger; those still
  // there are removed again.
  absl::flat_hash_set<ProcessId> in_kernel;
  in_kernel.reserve(processes_.size() + forgotten_.size());
  for (const Entry& entry : snapshot.counts) in_kernel.insert(Traits::Id(entry));
  std::erase_if(forgotten_, [&](const ProcessId& id) { return !in_kernel.count(id); });
  to_forget.assign(forgotten_.begin(), forgotten_.end());

  // (a) New processes; (b) the change of every entry since the last update.
  struct Change {
    const Entry* entry;
    Process* process;
    Counts delta;
  };
  std::vector<Change> changes;
  absl::flat_hash_map<ProcessId, uint64_t> total_events;
  total_events.reserve(processes_.size());
  absl::flat_hash_set<ProcessId> new_processes;
  absl::flat_hash_map<std::string, typename Traits::Raw> next_counts;
  next_counts.reserve(snapshot.counts.size());
  for (const Entry& entry : snapshot.counts) {
    const ProcessId id = Traits::Id(entry);
    if (forgotten_.count(id)) continue;
    auto [it, inserted] = processes_.try_emplace(id);
    Process& process = it->second;
    if (inserted) {
      auto comm = snapshot.comms.find(id);
      if (comm != snapshot.comms.end() && !comm->second.empty()) {
        TakeName(process, comm->second);
      } else {
        process.comm = ledger_internal::kUnknownComm;
        process.aggregate_comm = AggregateComm(process.comm);
      }
      new_processes.insert(id);
    }
    total_events[id] += Traits::Events(entry);
    const std::string entry_id = Traits::EntryId(entry);
    typename Traits::Raw last{};
    if (auto found = last_counts_.find(entry_id); found != last_counts_.end()) {
      last = found->second;
    }
    // A count below the last one means the entry was removed and made anew.
    Counts delta = Traits::Since(entry, last);
    next_counts[entry_id] = Traits::RawOf(entry);
    if (delta == Counts{}) continue;
    changes.push_back({&entry, &process, std::move(delta)});
  }
  last_counts_ = std::move(next_counts);

  // A process renamed since the last update (exec(), prctl, a write to
  // /proc/self/comm; the kernel's task_rename hook recorded the new name).
  // What it counts from now on goes under that name, as ps shows it; the
  // series of its old name keep their values and stop growing.
  for (const auto& [id, comm] : snapshot.comms) {
    auto it = processes_.find(id);
    if (it == processes_.end() || new_processes.contains(id) || comm.empty() ||
        it->second.raw_comm == comm ||
        it->second.names >= ledger_internal::kMaxNamesPerProcess) {
      continue;
    }
    it->second.names += 1;
    TakeName(it->second, comm);
  }

  // Activity, and liveness of processes that counted nothing since the last
  // update: a process still counting is alive (or has just exited, which the
  // next update notices), so busy nodes pay /proc reads for idle ones only.
  for (auto& [id, process] : processes_) {
    auto total = total_events.find(id);
    const uint64_t events = total == total_events.end() ? process.events : total->second;
    const uint64_t counted = events >= process.events ? events - process.events : events;
    process.events = events;
    process.activity = process.activity * decay + static_cast<double>(counted);
    if (counted > 0) {
      process.exited = false;  // counting: alive, whatever /proc said before
    } else if (!process.exited && !new_processes.contains(id)) {
      if (liveness(id) == Liveness::kExited) {
        process.exited = true;
        process.exited_at = now;
      }
    }
  }

  // (c) Who is in the per-process view for this update. Processes first seen
  // now show what they did since they started; those that join later show
  // only what they do from the next update on.
  absl::flat_hash_set<const Process*> joined_late;
  if (limits_.max_processes > 0) {
    std::vector<const Process*> before;
    for (const auto& [id, process] : processes_) {
      if (!new_processes.contains(id) && !process.in_view) before.push_back(&process);
    }
    ChooseTopProcesses(now);
    for (const Process* p : before) {
      if (p->in_view) joined_late.insert(p);
    }
  } else {
    for (auto& [id, process] : processes_) LeaveView(process);
  }

  // (d) Apply the changes.
  for (const Change& change : changes) {
    const SeriesKey full = FullKey(snapshot, *change.entry, *change.process, device_name);
    if (on_change) on_change(full, change.delta);
    SeriesKey complete_key = full;
    complete_key.comm = change.process->aggregate_comm;
    complete_[complete_labels_.Project(complete_key)].Add(change.delta);
    if (keyed_by_pod() && !full.pod.empty()) {
      change.process->pods.emplace(full.namespace_name, full.pod);
    }
    if (!change.process->in_view) continue;
    Counts& shown = change.process->shown[full];
    // A late joiner's series appear at 0 now (Prometheus then counts all of
    // what follows) and grow from the next update on.
    if (!joined_late.contains(change.process)) shown.Add(change.delta);
  }

  // (e) Processes sharing a pid: only the one that started last is alive, and
  // the others' series end at once (the newest never continues them). Only a
  // process seen for the first time can share a pid: a newer one reusing it,
  // several reusing it within one update (whatever the set's order), or an
  // exited one removed early whose late writeback made it anew while a newer
  // process holds its pid (that one it must not shadow).
  if (!new_processes.empty()) {
    absl::flat_hash_map<uint32_t, ProcessId> newest;
    for (const ProcessId& id : new_processes) newest.emplace(id.first, id);
    for (const auto& [id, process] : processes_) {
      auto it = newest.find(id.first);
      if (it != newest.end() && id.second > it->second.second) it->second = id;
    }
    std::vector<ProcessId> superseded;
    for (const auto& [id, process] : processes_) {
      auto it = newest.find(id.first);
      if (it != newest.end() && it->second != id) superseded.push_back(id);
    }
    for (const ProcessId& id : superseded) Expire(id, to_forget);
  }

  // Exited longer than the TTL: the series end and the kernel entries go.
  std::vector<ProcessId> expired;
  for (const auto& [id, process] : processes_) {
    if (process.exited && now - process.exited_at >= limits_.exited_process_ttl) {
      expired.push_back(id);
    }
  }
  for (const ProcessId& id : expired) Expire(id, to_forget);
  ExpireUnderPressure(snapshot, to_forget);
  if (keyed_by_pod()) EndSeriesOfGonePods(now);
  return to_forget;
}

template <typename Traits>
void BasicProcessLedger<Traits>::ExpireUnderPressure(const Snapshot& snapshot,
                                                     std::vector<ProcessId>& to_forget) {
  const MapFill fill = Traits::Fill(snapshot);
  size_t entries = fill.entries;
  size_t process_entries = fill.process_entries;
  auto above = [&](double share) {
    return (fill.capacity > 0 && entries > share * fill.capacity) ||
           (fill.process_capacity > 0 && process_entries > share * fill.process_capacity);
  };
  if (!above(ledger_internal::kPressureHigh)) return;
  absl::flat_hash_map<ProcessId, size_t> entries_of;
  for (const Entry& entry : snapshot.counts) ++entries_of[Traits::Id(entry)];
  auto leaves = [&](const ProcessId& id) {
    auto found = entries_of.find(id);
    if (found == entries_of.end()) return;
    entries -= std::min(found->second, entries);
    process_entries -= process_entries > 0 ? 1 : 0;
    entries_of.erase(found);
  };
  // What this update removes anyway (TTL, superseded pids, removed before).
  for (const ProcessId& id : to_forget) leaves(id);
  if (!above(ledger_internal::kPressureHigh)) return;
  // Everything they did is in both views already. What the kernel sends for
  // them in the next second is ignored like any entry of a removed process;
  // later writeback of their pages makes them anew (section (e)).
  std::vector<std::pair<absl::Time, ProcessId>> exited;
  for (const auto& [id, process] : processes_) {
    if (process.exited) exited.emplace_back(process.exited_at, id);
  }
  std::sort(exited.begin(), exited.end());
  for (const auto& [exited_at, id] : exited) {
    if (!above(ledger_internal::kPressureLow)) break;
    leaves(id);
    // A pod's series end exited_process_ttl after its last process exited,
    // as if the process had stayed (EndSeriesOfGonePods).
    if (keyed_by_pod()) {
      const absl::Time until = exited_at + limits_.exited_process_ttl;
      for (const auto& pod : processes_.at(id).pods) {
        auto [it, inserted] = pod_held_until_.try_emplace(pod, until);
        if (!inserted) it->second = std::max(it->second, until);
      }
    }
    Expire(id, to_forget);
    ++early_expiries_;
  }
}

template <typename Traits>
void BasicProcessLedger<Traits>::EndSeriesOfGonePods(absl::Time now) {
  // Pods come and go (each rollout, each Job): a pod's series would otherwise
  // stay forever. They end like a process's (exited_process_ttl after the
  // last of its processes exited), never decreasing before that.
  std::set<std::pair<std::string, std::string>> live_pods;
  for (const auto& [id, process] : processes_) {
    live_pods.insert(process.pods.begin(), process.pods.end());
  }
  std::erase_if(pod_held_until_, [now](const auto& held) { return held.second <= now; });
  for (const auto& [pod, until] : pod_held_until_) live_pods.insert(pod);
  std::erase_if(departed_, [&live_pods](const auto& entry) {
    const SeriesKey& key = entry.first;
    return !key.pod.empty() && !live_pods.contains({key.namespace_name, key.pod});
  });
}

template <typename Traits>
std::map<SeriesKey, typename Traits::Counts> BasicProcessLedger<Traits>::ProcessSeries() const {
  std::map<SeriesKey, Counts> series = departed_;
  for (const auto& [id, process] : processes_) {
    if (!process.in_view) continue;
    for (const auto& [key, counts] : process.shown) {
      series[process_labels_.Project(key)].Add(counts);
    }
  }
  return series;
}

template <typename Traits>
void BasicProcessLedger<Traits>::ForEachProcessSeries(
    const std::function<void(const SeriesKey&, const Counts&)>& visit) const {
  if (!process_labels_.pid) {
    for (const auto& [key, counts] : ProcessSeries()) visit(key, counts);
    return;
  }
  // With a pid label no two processes share a series (a reused pid's older
  // process has already been expired), and one process's keys differ already
  // before projection... unless the projection drops device, syscall or op:
  // then its keys are merged here.
  // The thread and the Kubernetes labels are in the keys whenever a view asks
  // for them; one process has several (threads, or a move between cgroups).
  const auto kept = [this](bool LabelSet::*label) {
    return process_labels_.*label || !(complete_labels_.*label);
  };
  const bool pod_labels = complete_labels_.namespace_name || complete_labels_.pod ||
                          complete_labels_.container || process_labels_.namespace_name ||
                          process_labels_.pod || process_labels_.container;
  // (A renamed process has keys under each of its names.)
  const bool keys_unique =
      process_labels_.device && process_labels_.comm && process_labels_.syscall &&
      (process_labels_.op || !Traits::kHasOp) && kept(&LabelSet::thread) &&
      (!pod_labels || (process_labels_.namespace_name && process_labels_.pod &&
                       process_labels_.container));
  for (const auto& [id, process] : processes_) {
    if (!process.in_view) continue;
    if (keys_unique) {
      for (const auto& [key, counts] : process.shown) visit(process_labels_.Project(key), counts);
      continue;
    }
    std::map<SeriesKey, Counts> merged;
    for (const auto& [key, counts] : process.shown) merged[process_labels_.Project(key)].Add(counts);
    for (const auto& [key, counts] : merged) visit(key, counts);
  }
}

template <typename Traits>
size_t BasicProcessLedger<Traits>::processes_in_view() const {
  size_t n = 0;
  for (const auto& [id, process] : processes_) n += process.in_view ? 1 : 0;
  return n;
}

}  // namespace diskidle
