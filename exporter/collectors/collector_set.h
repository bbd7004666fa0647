// Runs every collector at scrape time (prometheus-cpp Collectable), times each,
// and reports diskidle_scrape_collector_{success,duration_seconds} and
// diskidle_exporter_build_info. A failing collector never fails the scrape.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "prometheus/collectable.h"

namespace diskidle {

class CollectorSet : public prometheus::Collectable {
 public:
  void Add(std::shared_ptr<Collector> collector);
  // Swaps the collector of the same name (config reload); returns the old one,
  // which no scrape uses any more once this returns.
  std::shared_ptr<Collector> Replace(std::shared_ptr<Collector> collector);
  std::vector<prometheus::MetricFamily> Collect() const override;

  // "name: ok" / "name: <error>" per collector, from the last scrape (for "/").
  std::vector<std::pair<std::string, std::string>> LastStatus() const;

 private:
  mutable std::mutex mu_;  // scrapes run one at a time
  std::vector<std::shared_ptr<Collector>> collectors_;
  mutable std::vector<std::pair<std::string, std::string>> last_status_;
};

}  // namespace diskidle
