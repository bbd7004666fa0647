#include "collectors/utilization_sampler.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "util/read_file.h"

namespace diskidle {

UtilizationWindow::UtilizationWindow(absl::Duration window) : window_(window) {}

void UtilizationWindow::AddSample(absl::Time now, const std::vector<DiskStats>& disks) {
  std::set<std::string> present;
  for (const DiskStats& disk : disks) {
    present.insert(disk.name);
    auto& samples = history_[disk.name];
    // A counter that went backwards (device removed and re-created), or a clock
    // that did, invalidates what we had.
    if (!samples.empty() &&
        (disk.io_time_ms < samples.back().second || now < samples.back().first)) {
      samples.clear();
    }
    samples.emplace_back(now, disk.io_time_ms);
    // Keep one sample at or before the window's start so the ratio covers the
    // whole window.
    absl::Time start = now - window_;
    while (samples.size() >= 2 && samples[1].first <= start) samples.pop_front();
  }
  // Devices that disappeared lose their history.
  for (auto it = history_.begin(); it != history_.end();) {
    it = present.count(it->first) ? std::next(it) : history_.erase(it);
  }
}

std::map<std::string, double> UtilizationWindow::Ratios() const {
  std::map<std::string, double> ratios;
  for (const auto& [name, samples] : history_) {
    if (samples.size() < 2) continue;
    const auto& [t0, busy0] = samples.front();
    const auto& [t1, busy1] = samples.back();
    double elapsed_ms = absl::ToDoubleMilliseconds(t1 - t0);
    if (elapsed_ms <= 0) continue;
    double ratio = static_cast<double>(busy1 - busy0) / elapsed_ms;
    // io_ticks advance in jiffies, so a fully busy disk can read slightly above 1.
    ratios[name] = std::clamp(ratio, 0.0, 1.0);
  }
  return ratios;
}

absl::Time UtilizationSampler::MonotonicNow() {
  return absl::FromUnixNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

UtilizationSampler::UtilizationSampler(std::string procfs_path, absl::Duration window,
                                       Clock clock)
    : path_(std::move(procfs_path) + "/diskstats"), clock_(std::move(clock)), window_(window) {}

absl::Status UtilizationSampler::SampleOnce(std::vector<DiskStats>* disks) {
  absl::StatusOr<std::string> text = ReadFileToString(path_);
  if (!text.ok()) return text.status();
  DiskstatsParseResult parsed = ParseDiskstats(*text);
  absl::Time now = clock_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    window_.AddSample(now, parsed.disks);
  }
  if (disks != nullptr) *disks = std::move(parsed.disks);
  return absl::OkStatus();
}

std::map<std::string, double> UtilizationSampler::Ratios() const {
  std::lock_guard<std::mutex> lock(mu_);
  return window_.Ratios();
}

}  // namespace diskidle
