#include "collectors/diskstats_collector.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "collectors/device_filter.h"
#include "collectors/families.h"
#include "procfs/diskstats.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

constexpr double kSectorBytes = 512.0;  // diskstats sectors are 512 bytes on every device
constexpr double kMsPerSecond = 1000.0;

struct CounterSpec {
  const char* name;
  const char* help;
  uint64_t DiskStats::*field;
  double scale;
  int min_fields;  // 14, 18 (discards) or 20 (flushes)
};

constexpr CounterSpec kCounters[] = {
    {"diskidle_disk_reads_completed_total", "Reads completed (requests, after merging).",
     &DiskStats::reads_completed, 1, 14},
    {"diskidle_disk_reads_merged_total", "Reads merged into an adjacent request.",
     &DiskStats::reads_merged, 1, 14},
    {"diskidle_disk_read_bytes_total", "Bytes read (sectors read * 512).", &DiskStats::sectors_read,
     kSectorBytes, 14},
    {"diskidle_disk_read_time_seconds_total",
     "Seconds spent by read requests, summed over requests.", &DiskStats::read_time_ms,
     1 / kMsPerSecond, 14},
    {"diskidle_disk_writes_completed_total", "Writes completed (requests, after merging).",
     &DiskStats::writes_completed, 1, 14},
    {"diskidle_disk_writes_merged_total", "Writes merged into an adjacent request.",
     &DiskStats::writes_merged, 1, 14},
    {"diskidle_disk_written_bytes_total", "Bytes written (sectors written * 512).",
     &DiskStats::sectors_written, kSectorBytes, 14},
    {"diskidle_disk_write_time_seconds_total",
     "Seconds spent by write requests, summed over requests.", &DiskStats::write_time_ms,
     1 / kMsPerSecond, 14},
    {"diskidle_disk_io_time_seconds_total",
     "Seconds the disk had at least one request in flight (iostat %util numerator).",
     &DiskStats::io_time_ms, 1 / kMsPerSecond, 14},
    {"diskidle_disk_io_time_weighted_seconds_total",
     "Seconds spent doing I/O weighted by the number of requests in flight.",
     &DiskStats::weighted_io_time_ms, 1 / kMsPerSecond, 14},
    {"diskidle_disk_discards_completed_total", "Discards completed (requests).",
     &DiskStats::discards_completed, 1, 18},
    {"diskidle_disk_discards_merged_total", "Discards merged into an adjacent request.",
     &DiskStats::discards_merged, 1, 18},
    {"diskidle_disk_discarded_sectors_total", "Sectors discarded (512-byte units).",
     &DiskStats::sectors_discarded, 1, 18},
    {"diskidle_disk_discard_time_seconds_total",
     "Seconds spent by discard requests, summed over requests.", &DiskStats::discard_time_ms,
     1 / kMsPerSecond, 18},
    {"diskidle_disk_flush_requests_total",
     "Cache flush requests completed (whole disks only, not partitions).",
     &DiskStats::flush_requests, 1, 20},
    {"diskidle_disk_flush_requests_time_seconds_total",
     "Seconds spent by flush requests, summed over requests.", &DiskStats::flush_time_ms,
     1 / kMsPerSecond, 20},
};

}  // namespace

struct DiskstatsCollector::Impl {
  std::string diskstats_path;
  const UtilizationSampler* sampler;
  DeviceFilter filter;
  absl::Status config_error;

  bool Selected(const std::string& device) const { return filter.Selected(device); }
};

DiskstatsCollector::DiskstatsCollector(const DiskstatsCollectorConfig& config,
                                       std::string procfs_path, const UtilizationSampler* sampler)
    : impl_(std::make_unique<Impl>()) {
  impl_->diskstats_path = std::move(procfs_path) + "/diskstats";
  impl_->sampler = sampler;
  auto filter = DeviceFilter::Make(config.device_include, config.device_exclude);
  if (filter.ok()) {
    impl_->filter = *std::move(filter);
  } else {
    impl_->config_error = absl::InvalidArgumentError(
        absl::StrCat("diskstats collector: ", filter.status().message()));
  }
}

DiskstatsCollector::~DiskstatsCollector() = default;

absl::Status DiskstatsCollector::Collect(std::vector<prometheus::MetricFamily>& out) {
  if (!impl_->config_error.ok()) return impl_->config_error;
  absl::StatusOr<std::string> text = ReadFileToString(impl_->diskstats_path);
  if (!text.ok()) return text.status();
  DiskstatsParseResult parsed = ParseDiskstats(*text);

  std::vector<const DiskStats*> disks;
  for (const DiskStats& disk : parsed.disks) {
    if (impl_->Selected(disk.name)) disks.push_back(&disk);
  }

  auto append_if_nonempty = [&out](prometheus::MetricFamily family) {
    if (!family.metric.empty()) out.push_back(std::move(family));
  };

  prometheus::MetricFamily info = MakeFamily(
      "diskidle_disk_info", "Disk seen in /proc/diskstats, with its device numbers; always 1.",
      prometheus::MetricType::Gauge);
  for (const DiskStats* disk : disks) {
    AddSample(info,
              {{"device", disk->name},
               {"major", std::to_string(disk->major)},
               {"minor", std::to_string(disk->minor)}},
              1);
  }
  append_if_nonempty(std::move(info));

  for (const CounterSpec& spec : kCounters) {
    prometheus::MetricFamily family =
        MakeFamily(spec.name, spec.help, prometheus::MetricType::Counter);
    for (const DiskStats* disk : disks) {
      if (disk->field_count < spec.min_fields) continue;
      AddSample(family, {{"device", disk->name}},
                static_cast<double>(disk->*spec.field) * spec.scale);
    }
    append_if_nonempty(std::move(family));
  }

  prometheus::MetricFamily io_now =
      MakeFamily("diskidle_disk_io_now", "Requests in flight now.", prometheus::MetricType::Gauge);
  for (const DiskStats* disk : disks) {
    AddSample(io_now, {{"device", disk->name}}, static_cast<double>(disk->ios_in_progress));
  }
  append_if_nonempty(std::move(io_now));

  if (impl_->sampler != nullptr) {
    prometheus::MetricFamily utilization = MakeFamily(
        "diskidle_disk_utilization_ratio",
        "Fraction of the trailing window (0..1) the disk had I/O in flight; iostat %util / 100.",
        prometheus::MetricType::Gauge);
    for (const auto& [device, ratio] : impl_->sampler->Ratios()) {
      if (impl_->Selected(device)) AddSample(utilization, {{"device", device}}, ratio);
    }
    append_if_nonempty(std::move(utilization));
  }

  if (!parsed.errors.empty()) {
    std::string more = parsed.errors.size() > 1
                           ? absl::StrCat(" (and ", parsed.errors.size() - 1, " more bad lines)")
                           : "";
    return absl::InvalidArgumentError(
        absl::StrCat(impl_->diskstats_path, ": ", parsed.errors.front(), more));
  }
  return absl::OkStatus();
}

}  // namespace diskidle
