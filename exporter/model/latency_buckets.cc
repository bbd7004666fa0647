#include "model/latency_buckets.h"

namespace diskidle {

double LatencyBucketUpperSeconds(int b) {
  return static_cast<double>(uint64_t{1} << b) * 1e-6;
}

std::vector<std::pair<double, uint64_t>> CumulativeLatencyBuckets(
    const std::array<uint64_t, DISKIDLE_LATENCY_BUCKETS>& buckets) {
  std::vector<std::pair<double, uint64_t>> out;
  out.reserve(kLastLatencyBound - kFirstLatencyBound + 1);
  uint64_t cumulative = 0;
  for (int b = 0; b <= kLastLatencyBound; ++b) {
    cumulative += buckets[b];
    if (b >= kFirstLatencyBound) out.emplace_back(LatencyBucketUpperSeconds(b), cumulative);
  }
  return out;
}

std::string_view LatencyOpName(uint32_t op) {
  switch (op) {
    case DISKIDLE_LAT_READ:
      return "read";
    case DISKIDLE_LAT_WRITE:
      return "write";
    case DISKIDLE_LAT_FLUSH:
      return "flush";
    case DISKIDLE_LAT_DISCARD:
      return "discard";
    default:
      return "";
  }
}

}  // namespace diskidle
