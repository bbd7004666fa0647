// diskidle_bio_size_bytes and the BPF self-metrics, built at scrape time from
// a snapshot of the kernel maps (no live Counter objects per series).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/bio_snapshot.h"
#include "collectors/collector.h"
#include "config/config.h"

namespace diskidle {

class BioCollector : public Collector {
 public:
  // `maps` must outlive the collector. diskstats under `procfs_path` names the disks.
  BioCollector(const BioCollectorConfig& config, std::string procfs_path, BioMaps* maps);
  ~BioCollector() override;

  std::string_view Name() const override { return "bio"; }
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;

  // Expires exited processes and folds beyond the bounds without a scrape, so
  // the kernel map stays small on a node nobody scrapes. Called periodically.
  absl::Status Housekeep();

  // Applies new limits (SIGHUP reload); counts are kept.
  void SetConfig(const BioCollectorConfig& config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle
