// The bio views (docs/metrics.md), built at scrape time from a snapshot of the
// kernel maps through the ProcessLedger:
//  - diskidle_bio_size_bytes{device,comm,syscall,op}: every bio, once (labels
//    configurable, also thread, namespace, pod, container);
//  - diskidle_process_{bios,bio_bytes,zero_byte_bios}_total{device,pid,comm,syscall,op}
//    for the most active live processes (and diskidle_process_bio_size_bytes
//    when collectors.bio.process_histogram is on);
// plus the BPF and ledger self-metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/bio_snapshot.h"
#include "collectors/collector.h"
#include "collectors/process_ledger.h"
#include "config/config.h"

namespace diskidle {

class BioCollector : public Collector {
 public:
  // `maps` must outlive the collector. diskstats under `procfs_path` names the disks.
  BioCollector(const BioCollectorConfig& config, std::string procfs_path, BioMaps* maps);
  ~BioCollector() override;

  std::string_view Name() const override { return "bio"; }
  // Takes the snapshot and writes the self-metrics...
  absl::Status Collect(std::vector<prometheus::MetricFamily>& out) override;
  // ...and the views of that same snapshot.
  absl::Status CollectText(std::string& out) override;

  // Applies a snapshot without a scrape, so exited processes leave the kernel
  // maps on a node nobody scrapes. Called periodically.
  absl::Status Housekeep();

  // Called after every update (scrape or housekeeping), on the thread that ran
  // it, with what the update counted; it must be quick (the scrape waits).
  // Set before updates start.
  using ChangeObserver = std::function<void(const std::vector<LedgerChange>& changes)>;
  void SetChangeObserver(ChangeObserver observer);

  // The namespace/pod/container of a cgroup id (kubernetes/pod_resolver.h),
  // and its count of ids it could not resolve (diskidle_cgroup_resolve_misses_total).
  // Set before updates start, when a label set asks for those labels; called
  // by housekeeping only, never in a scrape.
  using CgroupResolver = std::function<CgroupLabels(uint64_t cgroup_id)>;
  void SetCgroupResolver(CgroupResolver resolve, std::function<uint64_t()> misses);

  // Applies reloadable settings (SIGHUP); counts are kept.
  void SetConfig(const BioCollectorConfig& config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle
