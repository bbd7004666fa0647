// Small helpers to build prometheus-cpp metric families by hand at scrape time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bpf/program_stats.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace diskidle {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);

// Appends one sample with `labels` to a counter or gauge family.
void AddSample(prometheus::MetricFamily& family, const LabelPairs& labels, double value);

// diskidle_bpf_program_run_seconds_total and diskidle_bpf_program_runs_total,
// one series per program. Every collector with BPF programs adds its own; the
// scrape merges the families of one name (MergeFamiliesByName).
void AddProgramRunFamilies(const std::vector<ProgramRunStats>& programs,
                           std::vector<prometheus::MetricFamily>& out);

// Moves the samples of every later family of a name into the first one of that
// name, keeping the order of first appearance: the text format allows one
// HELP/TYPE block per name.
void MergeFamiliesByName(std::vector<prometheus::MetricFamily>& families);

}  // namespace diskidle
