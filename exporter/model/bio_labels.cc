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

}  // namespace diskidle
