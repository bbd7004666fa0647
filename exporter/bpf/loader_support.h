// What every BPF loader here needs: errno text, quiet libbpf, the privilege
// check, the tp_btf/raw_tp choice, and removing an exited process's entries.
#pragma once

#include <bpf/bpf.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bio_stats.h"
#include "bpf/bio_snapshot.h"
#include "bpf/map_helpers.h"
#include "model/attach_mode.h"

namespace diskidle {

// strerror of an errno or of a negated one (libbpf returns -errno).
std::string ErrnoText(int err);

// One-line description of why this process cannot load BPF, or OK.
absl::Status CheckBpfPrivileges();

// Whether this process holds CAP_SYS_ADMIN, which the kernel asks for before
// it lists module BTFs (BPF_BTF_GET_NEXT_ID): libbpf needs that to relocate
// against, and attach to, a module's types and tracepoints.
bool HasCapSysAdmin();

// libbpf's messages go to stderr only with DISKIDLE_LIBBPF_DEBUG set: its
// warnings are many lines per failure, and each loader says in one line what
// failed (and a fallback that works is no error at all).
void QuietLibbpf();

// Whether the kernel BTF at `btf_path` types the raw tracepoint `tracepoint`
// (its btf_trace_<name> typedef): tp_btf needs that, raw_tp only the tracepoint.
bool KernelBtfHasTracepoint(const std::string& btf_path, const std::string& tracepoint);

// The attach modes to try, in order, for `requested`: auto tries tp_btf (when
// the kernel BTF has the tracepoint) and then raw_tp; a forced mode only itself.
std::vector<AttachMode> AttachModesToTry(AttachMode requested, bool btf_tracepoint);

// Deletes the entries of `processes` from a counts hash map keyed by `Key`
// (which has tgid and start_boottime_ns) and from the process_key name map.
template <typename Key>
void DeleteProcessEntries(int counts_fd, int processes_fd,
                          const std::vector<ProcessId>& processes) {
  if (processes.empty()) return;
  std::set<ProcessId> gone(processes.begin(), processes.end());
  std::vector<Key> doomed;  // deleted after the walk (see ForEachKey)
  ForEachKey<Key>(counts_fd, [&](const Key& key) {
    if (gone.count({key.tgid, key.start_boottime_ns})) doomed.push_back(key);
  });
  for (const Key& key : doomed) bpf_map_delete_elem(counts_fd, &key);
  for (const ProcessId& id : gone) {
    process_key pkey{};
    pkey.tgid = id.first;
    pkey.start_boottime_ns = id.second;
    bpf_map_delete_elem(processes_fd, &pkey);
  }
}

}  // namespace diskidle
