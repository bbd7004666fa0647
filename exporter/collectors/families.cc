#include "collectors/families.h"

#include <map>

namespace diskidle {

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(prometheus::MetricFamily& family, const LabelPairs& labels, double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) {
    metric.label.push_back({name, label_value});
  }
  switch (family.type) {
    case prometheus::MetricType::Counter:
      metric.counter.value = value;
      break;
    case prometheus::MetricType::Gauge:
      metric.gauge.value = value;
      break;
    default:
      metric.untyped.value = value;
      break;
  }
  family.metric.push_back(std::move(metric));
}

void AddProgramRunFamilies(const std::vector<ProgramRunStats>& programs,
                           std::vector<prometheus::MetricFamily>& out) {
  if (programs.empty()) return;
  auto seconds = MakeFamily(
      "diskidle_bpf_program_run_seconds_total",
      "Time the kernel spent in the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
      prometheus::MetricType::Counter);
  auto runs = MakeFamily("diskidle_bpf_program_runs_total",
                         "Runs of the BPF program (needs sysctl kernel.bpf_stats_enabled=1).",
                         prometheus::MetricType::Counter);
  for (const ProgramRunStats& program : programs) {
    AddSample(seconds, {{"program", program.name}}, static_cast<double>(program.run_time_ns) / 1e9);
    AddSample(runs, {{"program", program.name}}, static_cast<double>(program.run_count));
  }
  out.push_back(std::move(seconds));
  out.push_back(std::move(runs));
}

void MergeFamiliesByName(std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, size_t> first;  // name -> index in the merged list
  std::vector<prometheus::MetricFamily> merged;
  merged.reserve(families.size());
  for (prometheus::MetricFamily& family : families) {
    auto [it, inserted] = first.emplace(family.name, merged.size());
    if (inserted) {
      merged.push_back(std::move(family));
      continue;
    }
    auto& into = merged[it->second].metric;
    into.insert(into.end(), std::make_move_iterator(family.metric.begin()),
                std::make_move_iterator(family.metric.end()));
  }
  families = std::move(merged);
}

}  // namespace diskidle
