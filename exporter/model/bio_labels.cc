#include "model/bio_labels.h"

#include <linux/types.h>

#include <bit>

#include "bio_stats.h"

namespace diskidle {

std::string_view OpName(uint8_t op) {
  switch (op) {
    case DISKIDLE_OP_READ: return "read";
    case DISKIDLE_OP_WRITE: return "write";
    case DISKIDLE_OP_FLUSH: return "flush";
    case DISKIDLE_OP_DISCARD: return "discard";
    case DISKIDLE_OP_WRITE_ZEROES: return "write_zeroes";
    default: return "other";
  }
}

uint64_t KernelBucketUpperBound(int bucket) {
  if (bucket <= 0) return 0;
  return uint64_t{1} << (bucket - 1);
}

int KernelBucketOf(uint64_t bytes) {
  if (bytes == 0) return 0;
  // smallest b with bytes <= 2^(b-1)
  return static_cast<int>(std::bit_width(bytes - 1)) + 1;
}

std::vector<int> LastKernelBucketPerBound(const std::vector<uint64_t>& bounds) {
  std::vector<int> out;
  out.reserve(bounds.size());
  for (uint64_t bound : bounds) {
    out.push_back(bound == 0 ? 0 : std::countr_zero(bound) + 1);
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> CumulativeBuckets(
    std::span<const uint64_t> kernel_buckets, const std::vector<uint64_t>& bounds,
    const std::vector<int>& last_bucket) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  out.reserve(bounds.size());
  uint64_t cumulative = 0;
  size_t next_bucket = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    for (; next_bucket <= static_cast<size_t>(last_bucket[i]) &&
           next_bucket < kernel_buckets.size();
         ++next_bucket) {
      cumulative += kernel_buckets[next_bucket];
    }
    out.emplace_back(bounds[i], cumulative);
  }
  return out;
}

}  // namespace diskidle
