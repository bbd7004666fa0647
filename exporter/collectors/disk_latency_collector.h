// diskidle_disk_request_duration_seconds{device,op}: the kernel's per-disk
// request latency histograms (bpf/disk_latency.bpf.c), with `le` in seconds.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "bpf/latency_snapshot.h"
#include "collectors/collector.h"
#include "config/config.h"

namespace diskidle {

class DiskLatencyCollector : public Collector {
 public:
  // Devices are named from <procfs>/diskstats and selected by the diskstats
  // collector's device_include/device_exclude, so both show the same disks.
  DiskLatencyCollector(const DiskstatsCollectorConfig& devices, std::string procfs_path,
                       LatencyMaps* maps);
  ~DiskLatencyCollector() override;

  std::string_view Name() const override { return "disk_latency"; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;

  // A reload's new device_include/device_exclude.
  void SetDeviceFilter(const DiskstatsCollectorConfig& devices);

  // How long a disk that has left /proc/diskstats keeps its histograms, in the
  // kernel map and here: collectors.bio.exited_process_ttl, as its bio series
  // (5 minutes until set). Without it a host that keeps making and removing
  // disks (loop devices of CI jobs) would fill the map for good.
  void SetRemovedDiskTtl(absl::Duration ttl);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle
