#include "collectors/disk_latency_collector.h"

#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collectors/families.h"
#include "model/latency_buckets.h"
#include "procfs/device_names.h"
#include "util/read_file.h"

namespace diskidle {

struct DiskLatencyCollector::Impl {
  std::string diskstats_path;
  LatencyMaps* maps;
  std::mutex mu;  // guards the filter (a reload) and device_names (scrapes)
  DeviceNames device_names;
  absl::Duration removed_disk_ttl = absl::Minutes(5);
  std::optional<std::regex> include;  // nullopt: every device
  std::optional<std::regex> exclude;
  absl::Status config_error;

  void SetFilter(const DiskstatsCollectorConfig& config) {
    include.reset();
    exclude.reset();
    config_error = absl::OkStatus();
    // ParseConfig validated the regexes; a config built in code may carry a bad one.
    try {
      if (!config.device_include.empty()) include.emplace(config.device_include);
      if (!config.device_exclude.empty()) exclude.emplace(config.device_exclude);
    } catch (const std::regex_error& e) {
      config_error = absl::InvalidArgumentError(
          absl::StrCat("disk_latency collector: bad device regex: ", e.what()));
    }
  }

  bool Selected(const std::string& device) const {
    if (include && !std::regex_match(device, *include)) return false;
    if (exclude && std::regex_match(device, *exclude)) return false;
    return true;
  }
};

DiskLatencyCollector::DiskLatencyCollector(const DiskstatsCollectorConfig& devices,
                                           std::string procfs_path, LatencyMaps* maps)
    : impl_(std::make_unique<Impl>()) {
  impl_->diskstats_path = std::move(procfs_path) + "/diskstats";
  impl_->maps = maps;
  impl_->SetFilter(devices);
}

DiskLatencyCollector::~DiskLatencyCollector() = default;

void DiskLatencyCollector::SetDeviceFilter(const DiskstatsCollectorConfig& devices) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->SetFilter(devices);
}

void DiskLatencyCollector::SetRemovedDiskTtl(absl::Duration ttl) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->removed_disk_ttl = ttl;
}

absl::Status DiskLatencyCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->config_error.ok()) return impl_->config_error;
  // Names (already passed through the label sanitizer by the diskstats
  // parser) are kept for devices that disappear, so a detached loop device's
  // series keep their label instead of turning into unknown:7:0, until the
  // disk has been gone for removed_disk_ttl: then its histograms leave the
  // kernel map (which has room for 256 disks) and the exposition.
  const absl::Time now = absl::Now();
  if (auto text = ReadFileToString(impl_->diskstats_path); text.ok()) {
    impl_->device_names.Update(*text, now);
  }
  std::vector<uint32_t> gone;
  for (const auto& [dev, name] : impl_->device_names.TakeGone(now, impl_->removed_disk_ttl)) {
    gone.push_back(dev);
  }
  if (!gone.empty()) {
    if (absl::Status s = impl_->maps->Forget(gone); !s.ok()) return s;
  }
  absl::StatusOr<LatencySnapshot> snap = impl_->maps->Snapshot();
  if (!snap.ok()) return snap.status();

  // Every op of every disk seen, zero or not: a disk's first flush then
  // raises an existing series, which rate() and increase() see.
  std::map<std::pair<std::string, uint32_t>, const LatencyHistogram*> series;
  std::set<std::string> devices;
  for (const LatencyHistogram& h : snap->histograms) {
    std::string device = impl_->device_names.Name(h.dev);
    if (LatencyOpName(h.op).empty() || !impl_->Selected(device)) continue;
    devices.insert(device);
    series[{device, h.op}] = &h;
  }
  const LatencyHistogram empty;
  prometheus::MetricFamily family = MakeFamily(
      "diskidle_disk_request_duration_seconds",
      "Disk requests from issue to the driver until completion, per whole disk and op "
      "(read, write, flush, discard, grouped as /proc/diskstats groups them).",
      prometheus::MetricType::Histogram);
  for (const std::string& device : devices) {
    for (uint32_t op = 0; op < DISKIDLE_LAT_OPS; ++op) {
      auto it = series.find({device, op});
      const LatencyHistogram& h = it == series.end() ? empty : *it->second;
      prometheus::ClientMetric metric;
      metric.label = {{"device", device}, {"op", std::string(LatencyOpName(op))}};
      uint64_t count = 0;
      for (uint64_t n : h.buckets) count += n;
      for (const auto& [le, cumulative] : CumulativeLatencyBuckets(h.buckets)) {
        metric.histogram.bucket.push_back({cumulative, le});
      }
      metric.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
      metric.histogram.sample_count = count;
      metric.histogram.sample_sum = static_cast<double>(h.sum_ns) * 1e-9;
      family.metric.push_back(std::move(metric));
    }
  }
  // Listed (HELP/TYPE) even before any request: the family exists from the start.
  out.push_back(std::move(family));

  prometheus::MetricFamily from_alloc = MakeFamily(
      "diskidle_disk_request_duration_from_allocation_total",
      "Requests in diskidle_disk_request_duration_seconds timed from their allocation, "
      "not their issue: the disk's queue keeps no issue time (no blk-stat users such as "
      "writeback throttling), so their time includes the I/O scheduler's queue.",
      prometheus::MetricType::Counter);
  AddSample(from_alloc, {}, static_cast<double>(snap->events[DISKIDLE_LAT_FROM_ALLOC]));
  out.push_back(std::move(from_alloc));
  prometheus::MetricFamily dropped = MakeFamily(
      "diskidle_disk_request_duration_dropped_total",
      "Completed requests not in diskidle_disk_request_duration_seconds: the kernel map of "
      "(disk, op) histograms was full.",
      prometheus::MetricType::Counter);
  AddSample(dropped, {}, static_cast<double>(snap->events[DISKIDLE_LAT_DROP_MAP_FULL]));
  out.push_back(std::move(dropped));
  AddProgramRunFamilies(snap->programs, out);
  return absl::OkStatus();
}

}  // namespace diskidle
