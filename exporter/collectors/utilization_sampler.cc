#include "collectors/utilization_sampler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
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

struct UtilizationSampler::Impl {
  Impl(std::string procfs, absl::Duration window, absl::Duration interval)
      : path(std::move(procfs) + "/diskstats"), interval(interval), utilization(window) {}

  // A monotonic clock: wall-clock steps must not distort the ratio.
  static absl::Time MonotonicNow() {
    return absl::FromUnixNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
  }

  void SampleOnce() {
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (!text.ok()) return;  // the diskstats collector reports read errors at scrape time
    DiskstatsParseResult parsed = ParseDiskstats(*text);
    absl::Time now = MonotonicNow();
    std::lock_guard<std::mutex> lock(mu);
    utilization.AddSample(now, parsed.disks);
  }

  void Run() {
    auto period = absl::ToChronoNanoseconds(interval);
    auto next = std::chrono::steady_clock::now() + period;
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (cv.wait_until(lock, next, [this] { return stopping; })) break;
      lock.unlock();
      SampleOnce();
      lock.lock();
      next += period;
      // After a long stall, do not try to catch up with a burst of samples.
      auto now = std::chrono::steady_clock::now();
      if (next < now) next = now + period;
    }
  }

  const std::string path;
  const absl::Duration interval;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  UtilizationWindow utilization;  // guarded by mu
  std::thread thread;
};

UtilizationSampler::UtilizationSampler(std::string procfs_path, absl::Duration window,
                                       absl::Duration interval)
    : impl_(std::make_unique<Impl>(std::move(procfs_path), window, interval)) {}

UtilizationSampler::~UtilizationSampler() { Stop(); }

void UtilizationSampler::Start() {
  if (impl_->thread.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = false;
  }
  impl_->SampleOnce();
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
}

void UtilizationSampler::Stop() {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

std::map<std::string, double> UtilizationSampler::Ratios() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->utilization.Ratios();
}

}  // namespace diskidle
