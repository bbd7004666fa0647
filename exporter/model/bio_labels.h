// Label values and size buckets of diskidle_bio_size_bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace diskidle {

// The `op` label for enum diskidle_op; out-of-range values are "other".
std::string_view OpName(uint8_t op);

// The largest size (bytes) counted in kernel size bucket `bucket`
// (0 -> 0, b >= 1 -> 2^(b-1); see DISKIDLE_SIZE_BUCKETS in bpf/bio_stats.h).
uint64_t KernelBucketUpperBound(int bucket);

// The kernel bucket of a size, as the BPF program computes it (for tests and docs).
int KernelBucketOf(uint64_t bytes);

// For each configured `le` bound, the highest kernel bucket it covers
// (bound 0 -> 0, 2^k -> k + 1). Bounds must be 0 or powers of two (config
// validation guarantees it).
std::vector<int> LastKernelBucketPerBound(const std::vector<uint64_t>& bounds);

// (bound, cumulative count) at each configured bound, from the kernel's log2
// size buckets; `last_bucket` is LastKernelBucketPerBound(bounds).
std::vector<std::pair<uint64_t, uint64_t>> CumulativeBuckets(
    std::span<const uint64_t> kernel_buckets, const std::vector<uint64_t>& bounds,
    const std::vector<int>& last_bucket);

}  // namespace diskidle
