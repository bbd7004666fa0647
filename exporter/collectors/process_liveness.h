// Whether a process the ledger tracks is still alive, from procfs, cheaply
// enough to ask for every idle process at every update: one listing of
// <procfs> per update, and a process's stat file (which tells a reused pid
// from the original) when it is first asked about and then at most every
// kReconfirm. With 10,000 idle processes that is one directory listing per
// update instead of 10,000 file reads. Shared by the bio and syscall collectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "bpf/bio_snapshot.h"
#include "collectors/process_ledger.h"

namespace diskidle {

class ProcessLiveness {
 public:
  explicit ProcessLiveness(std::string procfs);

  // Starts an update: the next Check lists <procfs> again.
  void NewUpdate() { listed_pids_.reset(); }
  Liveness Check(const ProcessId& id, absl::Time now);
  // The ledger has forgotten these processes: so does the cache.
  void Forget(const std::vector<ProcessId>& ids);

 private:
  absl::flat_hash_set<uint32_t> ListPids() const;
  Liveness CheckStat(const ProcessId& id) const;

  const std::string procfs_;
  const uint64_t clock_ticks_ns_;
  // Pids in <procfs> at this update (listed once, on the first check), and
  // when each process's start time was last confirmed in its stat file.
  std::optional<absl::flat_hash_set<uint32_t>> listed_pids_;
  absl::flat_hash_map<ProcessId, absl::Time> confirmed_;
};

}  // namespace diskidle
