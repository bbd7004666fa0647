#include "collectors/bio_collector.h"

#include <malloc.h>
#include <unistd.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "collectors/families.h"
#include "collectors/process_ledger.h"
#include "model/bio_labels.h"
#include "procfs/device_names.h"
#include "procfs/proc_stat.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

constexpr size_t kTrimAfterExpired = 256;

LedgerLimits LimitsOf(const BioCollectorConfig& config) {
  return {config.exited_process_ttl, config.max_processes, config.max_comms};
}

prometheus::ClientMetric HistogramMetric(const SeriesKey& key, const SeriesCounts& counts,
                                         const std::vector<uint64_t>& bounds,
                                         const std::vector<int>& last_bucket) {
  prometheus::ClientMetric metric;
  metric.label = {{"comm", key.comm},       {"device", key.device}, {"op", key.op},
                  {"pid", key.pid},         {"syscall", key.syscall}};
  metric.histogram.sample_count = counts.bios;
  metric.histogram.sample_sum = static_cast<double>(counts.bytes);
  uint64_t cumulative = 0;
  int next_bucket = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    for (; next_bucket <= last_bucket[i] && next_bucket < DISKIDLE_SIZE_BUCKETS; ++next_bucket) {
      cumulative += counts.buckets[next_bucket];
    }
    metric.histogram.bucket.push_back(
        {.cumulative_count = cumulative, .upper_bound = static_cast<double>(bounds[i])});
  }
  return metric;
}

}  // namespace

struct BioCollector::Impl {
  Impl(const BioCollectorConfig& config, std::string procfs, BioMaps* maps)
      : config(config), procfs(std::move(procfs)), maps(maps), ledger(LimitsOf(config)) {}

  BioCollectorConfig config;
  const std::string procfs;
  BioMaps* const maps;
  DeviceNames device_names;
  ProcessLedger ledger;
  uint64_t clock_ticks_ns = 1'000'000'000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  std::mutex mu;

  bool IsAlive(const ProcessId& id) const {
    auto stat = ReadFileToString(absl::StrCat(procfs, "/", id.first, "/stat"));
    if (!stat.ok()) return false;  // gone (ENOENT/ESRCH)
    auto parsed = ParseProcStat(*stat);
    // Same PID, other start time: the PID was reused, ours has exited.
    return parsed.ok() && parsed->starttime_ticks == id.second / clock_ticks_ns;
  }

  // Snapshot + lifecycle; caller holds mu.
  absl::StatusOr<BioSnapshot> Update() {
    auto snapshot = maps->Snapshot();
    if (!snapshot.ok()) return snapshot.status();
    if (auto text = ReadFileToString(procfs + "/diskstats"); text.ok()) {
      device_names.Update(*text);
    }
    auto expired = ledger.Update(
        *snapshot, absl::Now(), [this](const ProcessId& id) { return IsAlive(id); },
        [this](uint32_t dev) { return device_names.Name(dev); });
    if (absl::Status s = maps->Forget(expired); !s.ok()) return s;
    // After a burst of short-lived processes has been folded, hand the freed
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
  impl_->config = config;
  impl_->ledger.SetLimits(LimitsOf(config));
}

absl::Status BioCollector::Housekeep() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Update().status();
}

absl::Status BioCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto snapshot = impl_->Update();
  if (!snapshot.ok()) return snapshot.status();
  const BioSnapshot& snap = *snapshot;

  const std::vector<uint64_t>& bounds = impl_->config.size_buckets_bytes;
  std::vector<int> last_bucket = LastKernelBucketPerBound(bounds);
  auto sizes = MakeFamily("diskidle_bio_size_bytes",
                          "Sizes of block I/O requests (bios) at submission, by the process and "
                          "syscall that submitted them; _count is bios, _sum is bytes.",
                          prometheus::MetricType::Histogram);
  auto series = impl_->ledger.Series(
      snap, [this](uint32_t dev) { return impl_->device_names.Name(dev); });
  for (const auto& [key, counts] : series) {
    sizes.metric.push_back(HistogramMetric(key, counts, bounds, last_bucket));
  }
  out.push_back(std::move(sizes));

  auto dropped = MakeFamily("diskidle_bpf_events_dropped_total",
                            "Events the BPF program could not record because a map was full.",
                            prometheus::MetricType::Counter);
  AddSample(dropped, {{"reason", "bio_map_full"}}, snap.drops[DISKIDLE_DROP_BIO_MAP_FULL]);
  AddSample(dropped, {{"reason", "process_map_full"}},
            snap.drops[DISKIDLE_DROP_PROCESS_MAP_FULL]);
  AddSample(dropped, {{"reason", "recursion"}},
            static_cast<double>(snap.program_recursion_misses));
  out.push_back(std::move(dropped));

  auto entries = MakeFamily("diskidle_bpf_map_entries", "Entries in a BPF map.",
                            prometheus::MetricType::Gauge);
  AddSample(entries, {{"map", "bio_counts"}}, static_cast<double>(snap.counts.size()));
  AddSample(entries, {{"map", "processes"}}, snap.process_map_entries);
  out.push_back(std::move(entries));
  auto capacity = MakeFamily("diskidle_bpf_map_capacity", "Maximum entries of a BPF map.",
                             prometheus::MetricType::Gauge);
  AddSample(capacity, {{"map", "bio_counts"}}, snap.bio_map_capacity);
  AddSample(capacity, {{"map", "processes"}}, snap.process_map_capacity);
  out.push_back(std::move(capacity));

  if (!snap.program_name.empty()) {
    auto run_seconds = MakeFamily(
        "diskidle_bpf_program_run_seconds_total",
        "Time the kernel spent in the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
        prometheus::MetricType::Counter);
    AddSample(run_seconds, {{"program", snap.program_name}}, snap.program_run_time_ns / 1e9);
    out.push_back(std::move(run_seconds));
    auto runs = MakeFamily("diskidle_bpf_program_runs_total",
                           "Runs of the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
                           prometheus::MetricType::Counter);
    AddSample(runs, {{"program", snap.program_name}}, static_cast<double>(snap.program_run_count));
    out.push_back(std::move(runs));
  }

  auto folded = MakeFamily("diskidle_bio_folded_processes_total",
                           "Processes whose series were folded into their comm aggregate "
                           "(pid=\"\"): exited longer than the TTL, or beyond max_processes.",
                           prometheus::MetricType::Counter);
  AddSample(folded, {{"reason", "exited"}}, impl_->ledger.folded_exited());
  AddSample(folded, {{"reason", "limit"}}, impl_->ledger.folded_limit());
  out.push_back(std::move(folded));

  auto tracked = MakeFamily("diskidle_tracked_processes",
                            "Processes with counts in the kernel map (live or exited within "
                            "the TTL).",
                            prometheus::MetricType::Gauge);
  AddSample(tracked, {}, static_cast<double>(impl_->ledger.tracked_processes()));
  out.push_back(std::move(tracked));
  return absl::OkStatus();
}

}  // namespace diskidle
