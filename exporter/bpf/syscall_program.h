// Loads syscall_stats.bpf.c (collectors.syscalls), attaches it to the traced
// syscalls, and reads its maps. Two attach paths, one at a time: fentry/fexit
// on the syscall entry functions (only the traced syscalls pay), or the
// syscalls:sys_enter_*/sys_exit_* tracepoints (every syscall pays; the only
// path on kernels that refuse function tracing). Everything is detached and
// unloaded when the object is destroyed. Nothing of it is loaded unless the
// collector is enabled.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/syscall_snapshot.h"
#include "model/attach_mode.h"

struct syscall_stats;  // generated skeleton

namespace diskidle {

struct SyscallProgramOptions {
  // auto: fentry/fexit, else the tracepoints; fentry: fentry/fexit or an
  // error; tracepoint: the tracepoints, fentry/fexit not tried.
  SyscallAttachMode attach = SyscallAttachMode::kAuto;
  // Entries of the syscall_counts and syscall_processes maps; >= 1.
  uint32_t map_entries = 0;
  // The kernel's BTF, e.g. /sys/kernel/btf/vmlinux.
  std::string btf_path;
  // Where tracefs is, or is mounted when it is not yet (libbpf reads each
  // tracepoint's id there). Empty: libbpf's own default paths only.
  std::string tracefs_path = "/sys/kernel/tracing";
};

class SyscallProgram : public SyscallMaps {
 public:
  static absl::StatusOr<std::unique_ptr<SyscallProgram>> Load(
      const SyscallProgramOptions& options);
  ~SyscallProgram() override;

  SyscallProgram(const SyscallProgram&) = delete;
  SyscallProgram& operator=(const SyscallProgram&) = delete;

  absl::StatusOr<SyscallSnapshot> Snapshot() override;
  absl::Status Forget(const std::vector<ProcessId>& processes) override;

  // How it is attached and, after a fallback, why: the start-up log line.
  const std::string& attach_description() const { return attach_description_; }
  // kFentry or kTracepoint: what is attached.
  SyscallAttachMode attach_mode() const { return attach_mode_; }

 private:
  SyscallProgram() = default;
  // Opens the object, loads the programs of one path (fentry/fexit or the
  // tracepoints) and attaches them. On failure nothing stays loaded.
  absl::Status LoadPath(const SyscallProgramOptions& options, SyscallAttachMode path);
  struct SkeletonDeleter {
    void operator()(syscall_stats* skel) const;
  };
  std::unique_ptr<syscall_stats, SkeletonDeleter> skel_;
  int num_cpus_ = 0;
  SyscallAttachMode attach_mode_ = SyscallAttachMode::kAuto;
  std::string attach_description_;
};

}  // namespace diskidle
