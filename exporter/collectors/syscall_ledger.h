// The ProcessLedger's rules (process_ledger.h) for the syscall collector: the
// same change-based counting, top max_processes, pid reuse and exited TTL as
// the bio views, over syscall_counts entries.
#pragma once

#include <string>

#include "bpf/syscall_snapshot.h"
#include "collectors/process_ledger.h"

namespace diskidle {

struct SyscallLedgerTraits {
  using Snapshot = SyscallSnapshot;
  using Entry = SyscallCount;
  using Counts = SyscallCounts;
  using Raw = SyscallCounts;  // an entry's kernel counts at the last update
  static constexpr bool kHasOp = false;
  static ProcessId Id(const SyscallCount& count) {
    return {count.key.tgid, count.key.start_boottime_ns};
  }
  static std::string EntryId(const SyscallCount& count);
  static const SyscallCounts& RawOf(const SyscallCount& count) { return count.counts; }
  static SyscallCounts Since(const SyscallCount& count, const SyscallCounts& last);
  static uint64_t Events(const SyscallCount& count) { return count.counts.calls(); }
  static SeriesKey Key(const SyscallSnapshot& snapshot, const SyscallCount& count,
                       const DeviceNameFn& device_name);
  static MapFill Fill(const SyscallSnapshot& snapshot) {
    return {snapshot.counts.size(), snapshot.map_capacity, snapshot.process_map_entries,
            snapshot.process_map_capacity};
  }
};

extern template class BasicProcessLedger<SyscallLedgerTraits>;
using SyscallLedger = BasicProcessLedger<SyscallLedgerTraits>;

}  // namespace diskidle
