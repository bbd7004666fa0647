// What /healthz reports: ready once every enabled source has come up, i.e. the
// BPF program is attached (bio collector) and /proc/diskstats was read once
// (diskstats collector). Each condition latches: a later failure shows as
// diskidle_scrape_collector_success 0, not as a flapping readiness probe that
// would take the node's metrics out of rotation.
#pragma once

#include <atomic>
#include <string>

namespace diskidle {

class Readiness {
 public:
  // Conditions that are not required count as met from the start.
  Readiness(bool require_bpf_attached, bool require_diskstats_read)
      : bpf_attached_(!require_bpf_attached), diskstats_read_(!require_diskstats_read) {}

  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Thread-safe; called by whoever observed the event.
  void SetBpfAttached() { bpf_attached_.store(true); }
  void SetDiskstatsRead() { diskstats_read_.store(true); }

  bool Ready() const { return bpf_attached_.load() && diskstats_read_.load(); }

  // "" when ready, else what is still missing, e.g. "BPF program not attached
  // yet; /proc/diskstats not read yet" (a body for the 503 answer).
  std::string Missing() const;

 private:
  std::atomic<bool> bpf_attached_;
  std::atomic<bool> diskstats_read_;
};

}  // namespace diskidle
