#include "collectors/live_view.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

constexpr double kSectorBytes = 512.0;  // diskstats sectors are 512 bytes on every device

// A counter that went backwards (device re-created) makes the difference meaningless.
bool WentBack(uint64_t before, uint64_t after) { return after < before; }

double PerSecond(uint64_t count, absl::Duration span) {
  return static_cast<double>(count) / absl::ToDoubleSeconds(span);
}

}  // namespace

DiskRateWindow::DiskRateWindow(absl::Duration window) : window_(window), utilization_(window) {}

void DiskRateWindow::Add(absl::Time now, const std::vector<DiskStats>& disks) {
  utilization_.AddSample(now, disks);
  newest_ = now;
  std::set<std::string> present;
  for (const DiskStats& disk : disks) {
    present.insert(disk.name);
    Reading reading{.at = now,
                    .writes_completed = disk.writes_completed,
                    .sectors_written = disk.sectors_written,
                    .flush_requests = disk.flush_requests,
                    .has_flushes = disk.field_count >= 20};
    auto& readings = history_[disk.name];
    if (!readings.empty()) {
      const Reading& last = readings.back();
      if (now < last.at || WentBack(last.writes_completed, reading.writes_completed) ||
          WentBack(last.sectors_written, reading.sectors_written) ||
          WentBack(last.flush_requests, reading.flush_requests)) {
        readings.clear();
      }
    }
    readings.push_back(reading);
    const absl::Time start = now - window_;
    while (readings.size() >= 2 && readings[1].at <= start) readings.pop_front();
  }
  for (auto it = history_.begin(); it != history_.end();) {
    it = present.count(it->first) ? std::next(it) : history_.erase(it);
  }
}

DiskRatesView DiskRateWindow::Rates() const {
  DiskRatesView view;
  const std::map<std::string, double> utilization = utilization_.Ratios();
  for (const auto& [name, readings] : history_) {
    if (readings.size() < 2) continue;
    const Reading& first = readings.front();
    const Reading& last = readings.back();
    const absl::Duration span = last.at - first.at;
    if (span <= absl::ZeroDuration()) continue;
    view.window = std::max(view.window, span);
    DiskRates rates;
    rates.device = name;
    auto util = utilization.find(name);
    rates.utilization = util == utilization.end() ? 0 : util->second;
    rates.writes_per_second = PerSecond(last.writes_completed - first.writes_completed, span);
    rates.written_bytes_per_second =
        PerSecond(last.sectors_written - first.sectors_written, span) * kSectorBytes;
    if (last.has_flushes) {
      rates.flushes_per_second = PerSecond(last.flush_requests - first.flush_requests, span);
    }
    view.disks.push_back(std::move(rates));
  }
  return view;
}

ProcessActivityWindow::ProcessActivityWindow(absl::Duration window, size_t top)
    : window_(window), top_(top) {}

void ProcessActivityWindow::Add(absl::Time now, const std::vector<LedgerChange>& changes) {
  if (!newest_ || now < *newest_) {
    // The first update, or a clock that went back: a fresh start.
    intervals_.clear();
    newest_ = now;
    return;
  }
  Interval interval{.start = *newest_, .end = now, .counts = {}};
  newest_ = now;
  for (const LedgerChange& change : changes) {
    Counts& counts = interval.counts[Key{.device = change.key.device,
                                         .pid = change.key.pid,
                                         .comm = change.key.comm,
                                         .syscall = change.key.syscall}];
    counts.bios += change.bios;
    counts.zero_byte_bios += change.zero_byte_bios;
  }
  intervals_.push_back(std::move(interval));
  // Keep the oldest interval that reaches back to the window's start.
  const absl::Time start = now - window_;
  while (intervals_.size() >= 2 && intervals_[1].start <= start) intervals_.pop_front();
}

ProcessRatesView ProcessActivityWindow::Rates() const {
  ProcessRatesView view;
  if (intervals_.empty()) return view;
  const absl::Duration span = intervals_.back().end - intervals_.front().start;
  if (span <= absl::ZeroDuration()) return view;
  view.window = span;
  std::map<Key, Counts> totals;
  for (const Interval& interval : intervals_) {
    for (const auto& [key, counts] : interval.counts) {
      Counts& total = totals[key];
      total.bios += counts.bios;
      total.zero_byte_bios += counts.zero_byte_bios;
    }
  }
  std::vector<ProcessRate> rows;
  rows.reserve(totals.size());
  for (const auto& [key, counts] : totals) {
    rows.push_back(
        ProcessRate{.pid = key.pid,
                    .comm = key.comm,
                    .syscall = key.syscall,
                    .device = key.device,
                    .bios = counts.bios,
                    .zero_byte_bios = counts.zero_byte_bios,
                    .bios_per_second = PerSecond(counts.bios, span),
                    .zero_byte_bios_per_second = PerSecond(counts.zero_byte_bios, span)});
  }
  // Busiest first; ties keep the (device, pid, comm, syscall) order of `totals`,
  // so equal rows do not swap places between refreshes.
  auto top = [&rows, this](uint64_t ProcessRate::*count) {
    std::vector<ProcessRate> chosen;
    for (const ProcessRate& row : rows) {
      if (row.*count > 0) chosen.push_back(row);
    }
    std::stable_sort(
        chosen.begin(), chosen.end(),
        [count](const ProcessRate& a, const ProcessRate& b) { return a.*count > b.*count; });
    if (chosen.size() > top_) chosen.resize(top_);
    return chosen;
  };
  view.top_by_bios = top(&ProcessRate::bios);
  view.top_by_zero_byte_bios = top(&ProcessRate::zero_byte_bios);
  return view;
}

LiveView::LiveView(Options options)
    : options_(std::move(options)),
      disks_(options_.window),
      processes_(options_.window, options_.top) {}

void LiveView::ObserveDisks(const std::vector<DiskStats>& disks) {
  const absl::Time now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  disks_.Add(now, disks);
}

void LiveView::ObserveBios(const std::vector<LedgerChange>& changes) {
  const absl::Time now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  processes_.Add(now, changes);
}

LiveRates LiveView::Rates() const {
  const absl::Time now = options_.clock();
  // Both feeds run about every second; a window's worth of silence means the
  // feed stopped (a failing snapshot or read, logged), and its numbers are old.
  auto stalled = [&](std::optional<absl::Time> newest) {
    return newest && now - *newest > options_.window;
  };
  auto age = [&](std::optional<absl::Time> newest) {
    return absl::StrCat(static_cast<int64_t>(absl::ToDoubleSeconds(now - *newest)), " s");
  };
  LiveRates rates;
  std::lock_guard<std::mutex> lock(mu_);
  if (!options_.disks_collected) {
    rates.disks.unavailable =
        "The diskstats collector is off (collectors.diskstats.enabled: false).";
  } else if (stalled(disks_.newest())) {
    rates.disks.unavailable = absl::StrCat("No /proc/diskstats reading for ", age(disks_.newest()),
                                           " (see the exporter's log).");
  } else {
    rates.disks = disks_.Rates();
    if (rates.disks.disks.empty()) {
      rates.disks.unavailable = "Waiting for a second /proc/diskstats reading.";
    }
  }
  if (!options_.processes_collected) {
    rates.processes.unavailable =
        "The bio collector is off (collectors.bio.enabled: false): no per-process numbers.";
  } else if (stalled(processes_.newest())) {
    rates.processes.unavailable = absl::StrCat(
        "No update of the BPF counts for ", age(processes_.newest()), " (see the exporter's log).");
  } else {
    rates.processes = processes_.Rates();
    if (rates.processes.window <= absl::ZeroDuration()) {
      rates.processes.unavailable = "Waiting for a second update of the BPF counts.";
    }
  }
  return rates;
}

}  // namespace diskidle
