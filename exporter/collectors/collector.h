// One source of metrics, run at every scrape (node_exporter style).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "prometheus/metric_family.h"

namespace diskidle {

class Collector {
 public:
  virtual ~Collector() = default;

  // The value of the `collector` label on diskidle_scrape_collector_*.
  virtual std::string_view Name() const = 0;

  // Appends this collector's metric families to `out`. A non-OK status marks the
  // collector failed for this scrape (diskidle_scrape_collector_success 0);
  // families appended before the failure are still exported, and the other
  // collectors run regardless.
  virtual absl::Status Collect(std::vector<prometheus::MetricFamily>& out) = 0;

  // Appends series in the text format, right after Collect() in the same
  // scrape (and only if it succeeded): for collectors with thousands of series,
  // written directly instead of through prometheus-cpp's structures. A non-OK
  // status marks the collector failed, as for Collect().
  virtual absl::Status CollectText(std::string& out) {
    (void)out;
    return absl::OkStatus();
  }
};

}  // namespace diskidle
