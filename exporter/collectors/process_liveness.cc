#include "collectors/process_liveness.h"

#include <dirent.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "procfs/proc_stat.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

// How often a live idle process's start time is read again (pid reuse by a
// process that does no I/O is noticed within this time).
constexpr absl::Duration kReconfirm = absl::Seconds(30);

}  // namespace

ProcessLiveness::ProcessLiveness(std::string procfs)
    : procfs_(std::move(procfs)),
      clock_ticks_ns_(1'000'000'000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK))) {}

Liveness ProcessLiveness::Check(const ProcessId& id, absl::Time now) {
  if (!listed_pids_) listed_pids_ = ListPids();
  if (listed_pids_->empty()) return CheckStat(id);  // listing failed: ask the file
  if (!listed_pids_->contains(id.first)) return Liveness::kExited;
  auto it = confirmed_.find(id);
  if (it != confirmed_.end() && now - it->second < kReconfirm) return Liveness::kAlive;
  Liveness liveness = CheckStat(id);
  if (liveness == Liveness::kAlive) confirmed_[id] = now;
  return liveness;
}

void ProcessLiveness::Forget(const std::vector<ProcessId>& ids) {
  for (const ProcessId& id : ids) confirmed_.erase(id);
}

absl::flat_hash_set<uint32_t> ProcessLiveness::ListPids() const {
  absl::flat_hash_set<uint32_t> pids;
  DIR* dir = opendir(procfs_.c_str());
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    uint32_t pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid)) pids.insert(pid);
  }
  closedir(dir);
  return pids;
}

Liveness ProcessLiveness::CheckStat(const ProcessId& id) const {
  auto stat = ReadFileToString(absl::StrCat(procfs_, "/", id.first, "/stat"));
  if (!stat.ok()) {
    // ENOENT/ESRCH: gone. Anything else (EMFILE, EACCES, ...) says nothing
    // about the process: ask again at the next update.
    return absl::IsNotFound(stat.status()) ? Liveness::kExited : Liveness::kUnknown;
  }
  auto parsed = ParseProcStat(*stat);
  if (!parsed.ok()) return Liveness::kUnknown;
  // Same pid, other start time: the pid was reused, ours has exited.
  return parsed->starttime_ticks == id.second / clock_ticks_ns_ ? Liveness::kAlive
                                                                : Liveness::kExited;
}

}  // namespace diskidle
