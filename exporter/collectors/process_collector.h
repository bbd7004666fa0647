// The usual process_* metrics of Prometheus exporters, for the exporter itself.
#pragma once

#include <string>
#include <string_view>

#include "collectors/collector.h"

namespace diskidle {

class ProcessCollector : public Collector {
 public:
  explicit ProcessCollector(std::string procfs_path) : procfs_(std::move(procfs_path)) {}
  std::string_view Name() const override { return "process"; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;

 private:
  std::string procfs_;
};

}  // namespace diskidle
