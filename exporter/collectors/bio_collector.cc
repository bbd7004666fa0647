#include "collectors/bio_collector.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "collectors/families.h"
#include "collectors/process_ledger.h"
#include "collectors/process_liveness.h"
#include "collectors/text_exposition.h"
#include "model/bio_labels.h"
#include "model/label_text.h"
#include "procfs/device_names.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

constexpr size_t kTrimAfterExpired = 256;

LedgerLimits LimitsOf(const BioCollectorConfig& config) {
  return {config.exited_process_ttl, config.max_processes, config.max_comms, config.max_threads};
}

LabelSet LabelsOf(const std::vector<std::string>& names) {
  auto has = [&names](const char* name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  return LabelSet{.device = has("device"),
                  .pid = has("pid"),
                  .comm = has("comm"),
                  .syscall = has("syscall"),
                  .op = has("op"),
                  .thread = has("thread"),
                  .namespace_name = has("namespace"),
                  .pod = has("pod"),
                  .container = has("container")};
}

// Labels in a fixed (alphabetical) order; empty ones are left out.
std::string LabelsText(const SeriesKey& key) {
  return RenderLabels({{"comm", key.comm},
                       {"container", key.container},
                       {"device", key.device},
                       {"namespace", key.namespace_name},
                       {"op", key.op},
                       {"pid", key.pid},
                       {"pod", key.pod},
                       {"syscall", key.syscall},
                       {"thread", key.thread}});
}

CgroupLabels Sanitized(CgroupLabels labels) {
  // Read from files on the node: the same rule as every other label value.
  return {SanitizeLabelValue(labels.namespace_name), SanitizeLabelValue(labels.pod),
          SanitizeLabelValue(labels.container)};
}

}  // namespace

struct BioCollector::Impl {
  Impl(const BioCollectorConfig& config, std::string procfs, BioMaps* maps)
      : config(config),
        procfs(std::move(procfs)),
        maps(maps),
        ledger(LimitsOf(config), LabelsOf(config.labels), LabelsOf(config.process_labels)),
        liveness(this->procfs) {}

  BioCollectorConfig config;
  const std::string procfs;
  BioMaps* const maps;
  DeviceNames device_names;
  ProcessLedger ledger;
  ProcessLiveness liveness;
  ChangeObserver observer;
  CgroupResolver resolve_cgroup;
  std::function<uint64_t()> cgroup_misses;
  // Labels of every cgroup id in the latest snapshot, fixed when the id was
  // first seen (while the id stays in the kernel maps), so a series never
  // moves even if the runtime's state changes or the cgroup is deleted.
  absl::flat_hash_map<uint64_t, CgroupLabels> cgroups;
  // Labels of recent dirtiers' cgroups (BioSnapshot::dirtier_cgroups), looked
  // up by housekeeping when an id first shows there, while the cgroup still
  // exists: their writeback comes later, often after a finished Job's cgroup
  // is deleted. Kept until the id has been out of the kernel's list for
  // exited_process_ttl (it stays there until another id takes its slot).
  struct DirtierCgroup {
    CgroupLabels labels;
    absl::Time last_listed;
  };
  absl::flat_hash_map<uint64_t, DirtierCgroup> dirtier_cgroups;
  // Entries in the kernel's bio_counts map at the last snapshot.
  size_t kernel_entries = 0;
  std::mutex mu;
  // The snapshot of the scrape in progress: Collect() takes it, CollectText() renders it.
  BioSnapshot last;

  // Gives every entry of `snapshot` the labels of its cgroup. A cgroup seen
  // for the first time is resolved (files of the runtime's state) only by
  // housekeeping; in a scrape its entries are held back instead, so a scrape
  // never waits on the file system. Holding back is exact: those entries were
  // never counted (their cgroup never had labels), and the next housekeeping,
  // a second later, counts everything they did.
  void LabelCgroups(BioSnapshot& snapshot, bool scrape) {
    absl::flat_hash_map<uint64_t, CgroupLabels> labels;
    for (const BioCount& count : snapshot.counts) {
      const uint64_t id = count.key.cgroup_id;
      if (labels.contains(id)) continue;
      if (auto known = cgroups.find(id); known != cgroups.end()) {
        labels.emplace(id, std::move(known->second));
      } else if (auto dirtier = dirtier_cgroups.find(id); dirtier != dirtier_cgroups.end()) {
        labels.emplace(id, dirtier->second.labels);
      } else if (!scrape) {
        labels.emplace(id, Sanitized(resolve_cgroup(id)));
      }
    }
    if (scrape) {
      std::erase_if(snapshot.counts,
                    [&labels](const BioCount& c) { return !labels.contains(c.key.cgroup_id); });
    }
    snapshot.cgroup_labels = std::move(labels);
  }

  // Looks up the labels of dirtiers' cgroups new to the kernel's list (only
  // in housekeeping: a scrape never waits on the file system) and forgets
  // those long out of it.
  void RememberDirtierCgroups(const std::vector<uint64_t>& listed, absl::Time now) {
    for (uint64_t id : listed) {
      auto [it, inserted] = dirtier_cgroups.try_emplace(id);
      if (inserted) {
        auto known = cgroups.find(id);
        it->second.labels =
            known != cgroups.end() ? known->second : Sanitized(resolve_cgroup(id));
      }
      it->second.last_listed = now;
    }
    for (auto it = dirtier_cgroups.begin(); it != dirtier_cgroups.end();) {
      auto here = it++;  // flat_hash_map: erase does not move the others
      if (now - here->second.last_listed > config.exited_process_ttl) dirtier_cgroups.erase(here);
    }
  }

  // Snapshot + lifecycle; caller holds mu.
  absl::StatusOr<BioSnapshot> Update(bool scrape) {
    auto snapshot = maps->Snapshot();
    if (!snapshot.ok()) return snapshot.status();
    kernel_entries = snapshot->counts.size();
    const absl::Time now = absl::Now();
    if (resolve_cgroup && !scrape) RememberDirtierCgroups(snapshot->dirtier_cgroups, now);
    if (resolve_cgroup) LabelCgroups(*snapshot, scrape);
    if (auto text = ReadFileToString(procfs + "/diskstats"); text.ok()) {
      device_names.Update(*text, now);
    }
    liveness.NewUpdate();
    std::vector<LedgerChange> changes;
    ProcessLedger::ChangeVisitor collect_change;
    if (observer) {
      collect_change = [&changes](const SeriesKey& key, const SeriesCounts& delta) {
        changes.push_back({key, delta.bios, delta.zero_byte_bios()});
      };
    }
    auto expired = ledger.Update(
        *snapshot, now, [this, now](const ProcessId& id) { return liveness.Check(id, now); },
        [this](uint32_t dev) { return device_names.Name(dev); }, collect_change);
    if (observer) observer(changes);
    // A disk gone as long as an exited process's series stay: its series end.
    ledger.ForgetDevices(DeviceNames::NamesOf(device_names.TakeGone(now, config.exited_process_ttl)));
    // Kept for the next update; the ledger has used them.
    if (resolve_cgroup) cgroups = std::move(snapshot->cgroup_labels);
    liveness.Forget(expired);
    if (absl::Status s = maps->Forget(expired); !s.ok()) return s;
    // After a burst of short-lived processes has expired, hand the freed
    // bookkeeping back to the system: glibc keeps freed heap otherwise, and
    // RSS would stay at the burst's high-water mark.
    if (expired.size() >= kTrimAfterExpired) malloc_trim(0);
    return snapshot;
  }
};

BioCollector::BioCollector(const BioCollectorConfig& config, std::string procfs_path,
                           BioMaps* maps)
    : impl_(std::make_unique<Impl>(config, std::move(procfs_path), maps)) {}

BioCollector::~BioCollector() = default;

void BioCollector::SetConfig(const BioCollectorConfig& config) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  // Label sets and buckets are restart-only (config.cc): keep the running ones.
  BioCollectorConfig applied = config;
  applied.labels = impl_->config.labels;
  applied.process_labels = impl_->config.process_labels;
  applied.process_histogram = impl_->config.process_histogram;
  applied.size_buckets_bytes = impl_->config.size_buckets_bytes;
  impl_->config = applied;
  impl_->ledger.SetLimits(LimitsOf(applied));
}

void BioCollector::SetCgroupResolver(CgroupResolver resolve, std::function<uint64_t()> misses) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->resolve_cgroup = std::move(resolve);
  impl_->cgroup_misses = std::move(misses);
}

void BioCollector::SetChangeObserver(ChangeObserver observer) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->observer = std::move(observer);
}

absl::Status BioCollector::Housekeep() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Update(/*scrape=*/false).status();
}

absl::Status BioCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto snapshot = impl_->Update(/*scrape=*/true);
  if (!snapshot.ok()) return snapshot.status();
  impl_->last = *std::move(snapshot);
  const BioSnapshot& snap = impl_->last;

  auto dropped = MakeFamily("diskidle_bpf_events_dropped_total",
                            "Events the BPF program could not record: a full map (bio_map_full, "
                            "process_map_full) or a run the kernel skipped (recursion).",
                            prometheus::MetricType::Counter);
  AddSample(dropped, {{"reason", "bio_map_full"}}, snap.drops[DISKIDLE_DROP_BIO_MAP_FULL]);
  AddSample(dropped, {{"reason", "process_map_full"}},
            snap.drops[DISKIDLE_DROP_PROCESS_MAP_FULL]);
  AddSample(dropped, {{"reason", "recursion"}},
            static_cast<double>(snap.program_recursion_misses));
  out.push_back(std::move(dropped));

  auto entries = MakeFamily("diskidle_bpf_map_entries", "Entries in a BPF map.",
                            prometheus::MetricType::Gauge);
  AddSample(entries, {{"map", "bio_counts"}}, static_cast<double>(impl_->kernel_entries));
  AddSample(entries, {{"map", "processes"}}, snap.process_map_entries);
  out.push_back(std::move(entries));
  auto capacity = MakeFamily("diskidle_bpf_map_capacity", "Maximum entries of a BPF map.",
                             prometheus::MetricType::Gauge);
  AddSample(capacity, {{"map", "bio_counts"}}, snap.bio_map_capacity);
  AddSample(capacity, {{"map", "processes"}}, snap.process_map_capacity);
  out.push_back(std::move(capacity));

  if (!snap.program_name.empty()) {
    std::vector<ProgramRunStats> programs = {
        {snap.program_name, snap.program_run_time_ns, snap.program_run_count}};
    programs.insert(programs.end(), snap.hook_programs.begin(), snap.hook_programs.end());
    AddProgramRunFamilies(programs, out);
  }

  if (impl_->cgroup_misses) {
    auto misses = MakeFamily(
        "diskidle_cgroup_resolve_misses_total",
        "Cgroups of counted bios whose Kubernetes namespace, pod and container could not be "
        "found (no container id in the cgroup path, or no runtime state file for it); their "
        "bios have no such labels.",
        prometheus::MetricType::Counter);
    AddSample(misses, {}, static_cast<double>(impl_->cgroup_misses()));
    out.push_back(std::move(misses));
  }

  auto tracked = MakeFamily("diskidle_tracked_processes",
                            "Processes with counts in the kernel map (live, or exited within "
                            "exited_process_ttl).",
                            prometheus::MetricType::Gauge);
  AddSample(tracked, {}, static_cast<double>(impl_->ledger.tracked_processes()));
  out.push_back(std::move(tracked));
  auto early = MakeFamily("diskidle_process_early_expiries_total",
                          "Exited processes removed before exited_process_ttl because a kernel "
                          "map was over 3/4 full (a burst of short-lived processes); their "
                          "per-process series ended early, the complete view is unaffected.",
                          prometheus::MetricType::Counter);
  AddSample(early, {}, static_cast<double>(impl_->ledger.early_expiries()));
  out.push_back(std::move(early));
  if (impl_->config.max_processes > 0) {
    auto in_view = MakeFamily("diskidle_process_view_processes",
                              "Processes holding a slot of the per-process view (diskidle_process_*); a "
                              "process's series appear with its first bio after it got one.",
                              prometheus::MetricType::Gauge);
    AddSample(in_view, {}, static_cast<double>(impl_->ledger.processes_in_view()));
    out.push_back(std::move(in_view));
    auto evictions = MakeFamily(
        "diskidle_process_view_evictions_total",
        "Times a busier process took the per-process view slot of a less active one "
        "(max_processes reached).",
        prometheus::MetricType::Counter);
    AddSample(evictions, {}, static_cast<double>(impl_->ledger.evictions()));
    out.push_back(std::move(evictions));
  }
  return absl::OkStatus();
}

absl::Status BioCollector::CollectText(std::string& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const BioCollectorConfig& config = impl_->config;
  const std::vector<uint64_t>& bounds = config.size_buckets_bytes;
  const std::vector<int> last_bucket = LastKernelBucketPerBound(bounds);
  TextExposition text(out);

  text.Family("diskidle_bio_size_bytes",
              "Sizes of block I/O requests (bios) at submission, by the disk, process name, "
              "syscall and operation; every bio once. _count is bios, _sum is bytes, le=\"0\" "
              "counts zero-byte bios (flushes).",
              "histogram");
  for (const auto& [key, counts] : impl_->ledger.complete()) {
    text.Histogram("diskidle_bio_size_bytes", LabelsText(key),
                   CumulativeBuckets(counts.buckets, bounds, last_bucket), counts.bytes, counts.bios);
  }

  if (config.max_processes <= 0) return absl::OkStatus();
  // Labels rendered once per series for all the families below.
  std::vector<std::pair<std::string, SeriesCounts>> processes;
  impl_->ledger.ForEachProcessSeries([&processes](const SeriesKey& key, const SeriesCounts& counts) {
    processes.emplace_back(LabelsText(key), counts);
  });
  struct Counter {
    const char* name;
    const char* help;
    uint64_t (*value)(const SeriesCounts&);
  };
  static constexpr Counter kCounters[] = {
      {"diskidle_process_bios_total",
       "Bios of the most active processes (max_processes), counted while the process is "
       "among them.",
       [](const SeriesCounts& c) { return c.bios; }},
      {"diskidle_process_bio_bytes_total",
       "Bytes of those bios, counted while the process is among the most active.",
       [](const SeriesCounts& c) { return c.bytes; }},
      {"diskidle_process_zero_byte_bios_total",
       "Zero-byte bios (flushes) of the most active processes, counted while the process is "
       "among them.",
       [](const SeriesCounts& c) { return c.zero_byte_bios(); }},
  };
  for (const Counter& counter : kCounters) {
    text.Family(counter.name, counter.help, "counter");
    for (const auto& [labels, counts] : processes) {
      text.Sample(counter.name, labels, counter.value(counts));
    }
  }
  if (config.process_histogram) {
    text.Family("diskidle_process_bio_size_bytes",
                "Sizes of the bios of the most active processes, counted while the process is "
                "among them.",
                "histogram");
    for (const auto& [labels, counts] : processes) {
      text.Histogram("diskidle_process_bio_size_bytes", labels,
                     CumulativeBuckets(counts.buckets, bounds, last_bucket), counts.bytes, counts.bios);
    }
  }
  return absl::OkStatus();
}

}  // namespace diskidle
