// The `le` bounds of diskidle_disk_request_duration_seconds, from the kernel's
// log2 microsecond buckets (bpf/disk_latency.h).
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "disk_latency.h"

namespace diskidle {

// Kernel buckets exposed as an `le` bound: bucket b's upper edge is 2^b us,
// b from kFirstLatencyBound (4 us: below any real disk) to kLastLatencyBound
// (2^24 us = 16.777216 s: beyond, a request is stuck, not slow). Buckets below
// fold into the first bound and above into +Inf; every bound stays exact,
// because it is a kernel bucket edge.
inline constexpr int kFirstLatencyBound = 2;
inline constexpr int kLastLatencyBound = 24;

// The upper edge of kernel bucket `b` in seconds: 2^b microseconds.
double LatencyBucketUpperSeconds(int b);

// (le in seconds, cumulative count) for each exposed bound, in order, from
// per-bucket kernel counts. The +Inf count is the sum of all buckets.
std::vector<std::pair<double, uint64_t>> CumulativeLatencyBuckets(
    const std::array<uint64_t, DISKIDLE_LATENCY_BUCKETS>& buckets);

// "read", "write", "flush", "discard"; "" for anything else.
std::string_view LatencyOpName(uint32_t op);

}  // namespace diskidle
