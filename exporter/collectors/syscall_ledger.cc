#include "collectors/syscall_ledger.h"

#include "collectors/process_ledger_impl.h"
#include "model/syscall_class.h"

namespace diskidle {
namespace {

// Each field's change on its own: a field below its last value means the
// entry was removed and made anew (then all of it is new).
template <size_t N>
void ArraySince(const std::array<uint64_t, N>& now, const std::array<uint64_t, N>& last,
                std::array<uint64_t, N>& out) {
  for (size_t i = 0; i < N; ++i) out[i] = now[i] >= last[i] ? now[i] - last[i] : now[i];
}

uint64_t SinceValue(uint64_t now, uint64_t last) { return now >= last ? now - last : now; }

}  // namespace

void SyscallCounts::Add(const SyscallCounts& other) {
  for (size_t i = 0; i < duration_buckets.size(); ++i) {
    duration_buckets[i] += other.duration_buckets[i];
  }
  duration_ns += other.duration_ns;
  for (size_t i = 0; i < size_buckets.size(); ++i) size_buckets[i] += other.size_buckets[i];
  bytes += other.bytes;
  errors += other.errors;
}

void SyscallCounts::Add(const syscall_value& cpu_value) {
  for (size_t i = 0; i < duration_buckets.size(); ++i) {
    duration_buckets[i] += cpu_value.duration_buckets[i];
  }
  duration_ns += cpu_value.duration_ns;
  for (size_t i = 0; i < size_buckets.size(); ++i) size_buckets[i] += cpu_value.size_buckets[i];
  bytes += cpu_value.bytes;
  errors += cpu_value.errors;
}

uint64_t SyscallCounts::calls() const {
  uint64_t n = 0;
  for (uint64_t b : duration_buckets) n += b;
  return n;
}

uint64_t SyscallCounts::writes() const {
  uint64_t n = 0;
  for (uint64_t b : size_buckets) n += b;
  return n;
}

std::string SyscallLedgerTraits::EntryId(const SyscallCount& count) {
  return std::string(reinterpret_cast<const char*>(&count.key), sizeof(count.key));
}

SyscallCounts SyscallLedgerTraits::Since(const SyscallCount& count, const SyscallCounts& last) {
  const SyscallCounts& now = count.counts;
  SyscallCounts delta;
  ArraySince(now.duration_buckets, last.duration_buckets, delta.duration_buckets);
  delta.duration_ns = SinceValue(now.duration_ns, last.duration_ns);
  ArraySince(now.size_buckets, last.size_buckets, delta.size_buckets);
  delta.bytes = SinceValue(now.bytes, last.bytes);
  delta.errors = SinceValue(now.errors, last.errors);
  return delta;
}

SeriesKey SyscallLedgerTraits::Key(const SyscallSnapshot& /*snapshot*/, const SyscallCount& count,
                                   const DeviceNameFn& device_name) {
  SeriesKey key;
  // 0: a file on no block device (pipe, socket, tmpfs), or sync()/msync().
  if (count.key.dev != 0) key.device = device_name(count.key.dev);
  key.syscall = std::string(ClassifySyscall(count.key.syscall_nr));
  return key;
}

template class BasicProcessLedger<SyscallLedgerTraits>;

}  // namespace diskidle
