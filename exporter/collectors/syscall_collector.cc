#include "collectors/syscall_collector.h"

#include <unistd.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "collectors/families.h"
#include "collectors/process_liveness.h"
#include "collectors/syscall_ledger.h"
#include "collectors/text_exposition.h"
#include "model/bio_labels.h"
#include "procfs/device_names.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

// The per-process view's labels; the ledger's complete view is not exported
// (only its syscall label is kept, so it stays a handful of entries).
constexpr LabelSet kProcessLabels{
    .device = true, .pid = true, .comm = true, .syscall = true, .op = false};
constexpr LabelSet kCompleteLabels{
    .device = false, .pid = false, .comm = false, .syscall = true, .op = false};

LedgerLimits LimitsOf(const SyscallCollectorConfig& config) {
  return {config.exited_process_ttl, config.max_processes, /*max_comms=*/0};
}

std::string LabelsText(const SeriesKey& key) {
  return RenderLabels({{"comm", key.comm},
                       {"device", key.device},
                       {"pid", key.pid},
                       {"syscall", key.syscall}});
}

bool IsWriteFamily(std::string_view syscall) {
  return syscall == "write" || syscall == "pwrite" || syscall == "writev" ||
         syscall == "pwritev";
}

}  // namespace

const std::vector<std::string_view>& SyscallDurationLe() {
  // DISKIDLE_SYSCALL_DURATION_BOUNDS_NS in seconds (a unit test keeps them equal).
  static const auto* const le = new std::vector<std::string_view>{
      "1e-06", "5e-06", "1e-05", "5e-05", "0.0001", "0.0005", "0.001", "0.005",
      "0.01",  "0.05",  "0.1",   "0.5",   "1",      "5",      "10"};
  return *le;
}

struct SyscallCollector::Impl {
  Impl(const SyscallCollectorConfig& config, std::vector<uint64_t> size_bounds,
       std::string procfs, SyscallMaps* maps)
      : config(config),
        size_bounds(std::move(size_bounds)),
        last_bucket(LastKernelBucketPerBound(this->size_bounds)),
        procfs(std::move(procfs)),
        maps(maps),
        ledger(LimitsOf(config), kCompleteLabels, kProcessLabels),
        liveness(this->procfs) {}

  SyscallCollectorConfig config;
  const std::vector<uint64_t> size_bounds;
  const std::vector<int> last_bucket;
  const std::string procfs;
  SyscallMaps* const maps;
  DeviceNames device_names;
  SyscallLedger ledger;
  ProcessLiveness liveness;
  std::mutex mu;
  SyscallSnapshot last;

  // Snapshot + lifecycle; caller holds mu.
  absl::Status Update() {
    auto snapshot = maps->Snapshot();
    if (!snapshot.ok()) return snapshot.status();
    const absl::Time now = absl::Now();
    if (auto text = ReadFileToString(procfs + "/diskstats"); text.ok()) {
      device_names.Update(*text, now);
    }
    liveness.NewUpdate();
    auto expired = ledger.Update(
        *snapshot, now, [this, now](const ProcessId& id) { return liveness.Check(id, now); },
        [this](uint32_t dev) { return device_names.Name(dev); });
    ledger.ForgetDevices(DeviceNames::NamesOf(device_names.TakeGone(now, config.exited_process_ttl)));
    liveness.Forget(expired);
    if (absl::Status s = maps->Forget(expired); !s.ok()) return s;
    last = *std::move(snapshot);
    return absl::OkStatus();
  }

  std::vector<std::pair<std::string_view, uint64_t>> DurationBuckets(
      const SyscallCounts& counts) const {
    std::vector<std::pair<std::string_view, uint64_t>> out;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < SyscallDurationLe().size(); ++i) {
      cumulative += counts.duration_buckets[i];
      out.emplace_back(SyscallDurationLe()[i], cumulative);
    }
    return out;
  }

  std::vector<std::pair<uint64_t, uint64_t>> SizeBuckets(const SyscallCounts& counts) const {
    return CumulativeBuckets(counts.size_buckets, size_bounds, last_bucket);
  }
};

SyscallCollector::SyscallCollector(const SyscallCollectorConfig& config,
                                   std::vector<uint64_t> size_buckets_bytes,
                                   std::string procfs_path, SyscallMaps* maps)
    : impl_(std::make_unique<Impl>(config, std::move(size_buckets_bytes), std::move(procfs_path),
                                   maps)) {}

SyscallCollector::~SyscallCollector() = default;

void SyscallCollector::SetConfig(const SyscallCollectorConfig& config) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->config = config;
  impl_->ledger.SetLimits(LimitsOf(config));
}

absl::Status SyscallCollector::Housekeep() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Update();
}

absl::Status SyscallCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (absl::Status s = impl_->Update(); !s.ok()) return s;
  const SyscallSnapshot& snap = impl_->last;
  auto dropped = MakeFamily(
      "diskidle_syscall_events_dropped_total",
      "Syscalls the syscall collector's BPF program could not record (a full map, or no "
      "task storage for the thread).",
      prometheus::MetricType::Counter);
  AddSample(dropped, {{"reason", "count_map_full"}},
            snap.drops[DISKIDLE_SYSCALL_DROP_COUNT_MAP_FULL]);
  AddSample(dropped, {{"reason", "process_map_full"}},
            snap.drops[DISKIDLE_SYSCALL_DROP_PROCESS_MAP_FULL]);
  AddSample(dropped, {{"reason", "inflight_unavailable"}},
            snap.drops[DISKIDLE_SYSCALL_DROP_INFLIGHT_UNAVAILABLE]);
  out.push_back(std::move(dropped));
  auto early = MakeFamily("diskidle_syscall_early_expiries_total",
                          "Exited processes removed from the syscall collector's kernel maps "
                          "before exited_process_ttl because a map was over 3/4 full; their "
                          "series ended early.",
                          prometheus::MetricType::Counter);
  AddSample(early, {}, static_cast<double>(impl_->ledger.early_expiries()));
  out.push_back(std::move(early));
  AddProgramRunFamilies(snap.programs, out);
  return absl::OkStatus();
}

absl::Status SyscallCollector::CollectText(std::string& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  struct Series {
    std::string labels;
    bool write_family;
    SyscallCounts counts;
  };
  std::vector<Series> series;
  impl_->ledger.ForEachProcessSeries([&series](const SeriesKey& key, const SyscallCounts& counts) {
    series.push_back({LabelsText(key), IsWriteFamily(key.syscall), counts});
  });
  TextExposition text(out);
  text.Family("diskidle_syscall_duration_seconds",
              "Time in write and sync syscalls of the most active processes, entry to exit: "
              "_count is calls (failed ones too), _sum is seconds spent.",
              "histogram");
  for (const auto& [labels, write_family, counts] : series) {
    text.HistogramWithLe("diskidle_syscall_duration_seconds", labels,
                         impl_->DurationBuckets(counts),
                         static_cast<double>(counts.duration_ns) / 1e9, counts.calls());
  }
  text.Family("diskidle_syscall_write_bytes",
              "Bytes the write family (write, pwrite, writev, pwritev) returned, per successful "
              "call; le=\"0\" counts zero-byte writes.",
              "histogram");
  for (const auto& [labels, write_family, counts] : series) {
    if (!write_family) continue;  // sync calls return no byte count
    text.Histogram("diskidle_syscall_write_bytes", labels, impl_->SizeBuckets(counts),
                   counts.bytes, counts.writes());
  }
  text.Family("diskidle_syscall_errors_total",
              "Write and sync syscalls that returned an error.", "counter");
  for (const auto& [labels, write_family, counts] : series) {
    text.Sample("diskidle_syscall_errors_total", labels, counts.errors);
  }
  return absl::OkStatus();
}

}  // namespace diskidle
