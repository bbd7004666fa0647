#include "collectors/collector_set.h"

#include <chrono>

#include "collectors/families.h"
#include "prometheus/text_serializer.h"
#include "util/log.h"
#include "version.h"

namespace diskidle {

void CollectorSet::Add(std::shared_ptr<Collector> collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::shared_ptr<Collector> CollectorSet::Replace(std::shared_ptr<Collector> collector) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& existing : collectors_) {
    if (existing->Name() == collector->Name()) {
      std::swap(existing, collector);
      return collector;
    }
  }
  collectors_.push_back(std::move(collector));
  return nullptr;
}

std::string CollectorSet::Render() {
  std::string text;
  std::string out = prometheus::TextSerializer().Serialize(Run(&text));
  out += text;
  return out;
}

std::vector<prometheus::MetricFamily> CollectorSet::Collect() { return Run(nullptr); }

std::vector<prometheus::MetricFamily> CollectorSet::Run(std::string* text) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<prometheus::MetricFamily> out;
  auto success = MakeFamily("diskidle_scrape_collector_success",
                            "Whether a collector succeeded (1) or failed (0) in this scrape.",
                            prometheus::MetricType::Gauge);
  auto duration = MakeFamily("diskidle_scrape_collector_duration_seconds",
                             "How long a collector took in this scrape.",
                             prometheus::MetricType::Gauge);
  std::vector<std::pair<std::string, std::string>> status;
  for (const auto& collector : collectors_) {
    std::string name(collector->Name());
    auto start = std::chrono::steady_clock::now();
    absl::Status result = collector->Collect(out);
    if (result.ok() && text != nullptr) result = collector->CollectText(*text);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    AddSample(success, {{"collector", name}}, result.ok() ? 1 : 0);
    AddSample(duration, {{"collector", name}}, took.count());
    if (!result.ok()) {
      // Logged when the state changes, not on every scrape.
      std::string message(result.message());
      bool changed = true;
      for (const auto& [prev_name, prev_message] : last_status_) {
        if (prev_name == name && prev_message == message) changed = false;
      }
      if (changed) LogWarning("collector " + name + " failed: " + message);
      status.push_back({name, message});
    } else {
      status.push_back({name, "ok"});
    }
  }
  last_status_ = std::move(status);
  MergeFamiliesByName(out);  // e.g. each collector's diskidle_bpf_program_* series
  out.push_back(std::move(success));
  out.push_back(std::move(duration));

  auto build = MakeFamily("diskidle_exporter_build_info",
                          "Always 1; labels say which diskidle_exporter is running.",
                          prometheus::MetricType::Gauge);
  AddSample(build, {{"version", DISKIDLE_VERSION}, {"compiler", __VERSION__}}, 1);
  out.push_back(std::move(build));
  return out;
}

std::vector<std::pair<std::string, std::string>> CollectorSet::LastStatus() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!last_status_.empty()) return last_status_;
  std::vector<std::pair<std::string, std::string>> status;
  for (const auto& collector : collectors_) {
    status.push_back({std::string(collector->Name()), "enabled, not scraped yet"});
  }
  return status;
}

}  // namespace diskidle
