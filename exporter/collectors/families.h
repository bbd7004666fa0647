// Small helpers to build prometheus-cpp metric families by hand at scrape time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace diskidle {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);

// Appends one sample with `labels` to a counter or gauge family.
void AddSample(prometheus::MetricFamily& family, const LabelPairs& labels, double value);

}  // namespace diskidle
