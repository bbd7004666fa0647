// Runs every collector at scrape time, times each, and reports
// diskidle_scrape_collector_{success,duration_seconds} and
// diskidle_exporter_build_info. A failing collector never fails the scrape.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "prometheus/metric_family.h"

namespace diskidle {

class CollectorSet {
 public:
  void Add(std::shared_ptr<Collector> collector);
  // Swaps the collector of the same name (config reload); returns the old one,
  // which no scrape uses any more once this returns.
  std::shared_ptr<Collector> Replace(std::shared_ptr<Collector> collector);
  // Runs every collector, one scrape at a time (concurrent calls wait), and
  // returns the scrape in the text format: the families of all of them, the
  // success/duration/build_info families, then the collectors' own text.
  std::string Render();
  // The same scrape's families alone (without CollectText's output).
  std::vector<prometheus::MetricFamily> Collect();

  // "name: ok" / "name: <error>" per collector, from the last scrape (for "/").
  std::vector<std::pair<std::string, std::string>> LastStatus() const;

 private:
  std::vector<prometheus::MetricFamily> Run(std::string* text);

  mutable std::mutex mu_;  // scrapes run one at a time
  std::vector<std::shared_ptr<Collector>> collectors_;
  std::vector<std::pair<std::string, std::string>> last_status_;
};

}  // namespace diskidle
