#include "collectors/process_ledger.h"

#include <string.h>

#include <algorithm>

#include "collectors/process_ledger_impl.h"
#include "model/bio_labels.h"
#include "model/syscall_class.h"

namespace diskidle {

void SeriesCounts::Add(const SeriesCounts& other) {
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  bios += other.bios;
  bytes += other.bytes;
}

SeriesKey LabelSet::Project(SeriesKey key) const {
  if (!device) key.device.clear();
  if (!pid) key.pid.clear();
  if (!comm) key.comm.clear();
  if (!syscall) key.syscall.clear();
  if (!op) key.op.clear();
  if (!thread) key.thread.clear();
  if (!namespace_name) key.namespace_name.clear();
  if (!pod) key.pod.clear();
  if (!container) key.container.clear();
  return key;
}

std::string BioLedgerTraits::EntryId(const BioCount& count) {
  return std::string(reinterpret_cast<const char*>(&count.key), sizeof(count.key));
}

SeriesCounts BioLedgerTraits::Since(const BioCount& count, const Raw& last) {
  const uint64_t bios = count.bios >= last.bios ? count.bios - last.bios : count.bios;
  const uint64_t bytes = count.bytes >= last.bytes ? count.bytes - last.bytes : count.bytes;
  SeriesCounts delta;
  delta.buckets[std::min<int>(count.key.size_bucket, DISKIDLE_SIZE_BUCKETS - 1)] = bios;
  delta.bios = bios;
  delta.bytes = bytes;
  return delta;
}

SeriesKey BioLedgerTraits::Key(const BioSnapshot& snapshot, const BioCount& count,
                               const DeviceNameFn& device_name) {
  SeriesKey key;
  key.device = device_name(count.key.dev);
  key.syscall = std::string(ClassifySyscall(count.key.syscall_nr));
  key.op = std::string(OpName(count.key.op));
  // All zero unless the program records threads; the kernel's name is
  // NUL-terminated within 16 bytes, but do not rely on it.
  key.thread.assign(count.key.thread, strnlen(count.key.thread, sizeof(count.key.thread)));
  if (auto it = snapshot.cgroup_labels.find(count.key.cgroup_id);
      it != snapshot.cgroup_labels.end()) {
    key.namespace_name = it->second.namespace_name;
    key.pod = it->second.pod;
    key.container = it->second.container;
  }
  return key;
}

template class BasicProcessLedger<BioLedgerTraits>;

}  // namespace diskidle
