// diskidle_disk_* from /proc/diskstats, named as node_exporter names them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"
#include "collectors/utilization_sampler.h"
#include "config/config.h"

namespace diskidle {

class DiskstatsCollector : public Collector {
 public:
  // `sampler` (may be null) provides diskidle_disk_utilization_ratio.
  DiskstatsCollector(const DiskstatsCollectorConfig& config, std::string procfs_path,
                     const UtilizationSampler* sampler);
  ~DiskstatsCollector() override;

  std::string_view Name() const override { return "diskstats"; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle
