// What the landing page (/) shows: per-disk and per-process rates over the
// last few seconds. Plain data, so the page renderer (http/) and the window
// that computes it (collectors/live_view) share it without knowing each other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace diskidle {

// One disk's rates over `DiskRatesView::window`, from /proc/diskstats.
struct DiskRates {
  std::string device;
  double utilization = 0;  // busy fraction 0..1 (iostat %util / 100)
  double writes_per_second = 0;
  double written_bytes_per_second = 0;
  // nullopt on kernels before 5.5, whose diskstats have no flush fields.
  std::optional<double> flushes_per_second;
};

struct DiskRatesView {
  // Empty when there are rates; otherwise why not (collector disabled, no
  // second sample yet), said to a person.
  std::string unavailable;
  absl::Duration window;         // the span the rates cover
  std::vector<DiskRates> disks;  // by device name
};

// One process's bios of one syscall to one disk over `ProcessRatesView::window`.
struct ProcessRate {
  std::string pid;
  std::string comm;  // sanitized (model/label_text.h): still any text, e.g. "<b>"
  std::string syscall;
  std::string device;
  uint64_t bios = 0;  // counted within the window
  uint64_t zero_byte_bios = 0;
  double bios_per_second = 0;
  double zero_byte_bios_per_second = 0;
};

struct ProcessRatesView {
  std::string unavailable;  // as in DiskRatesView
  absl::Duration window;
  // Busiest first, at most the top N each; the second holds only rows with
  // zero-byte bios.
  std::vector<ProcessRate> top_by_bios;
  std::vector<ProcessRate> top_by_zero_byte_bios;
};

struct LiveRates {
  DiskRatesView disks;
  ProcessRatesView processes;
};

}  // namespace diskidle
