#include "bpf/syscall_program.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "bpf/loader_support.h"
#include "bpf/map_helpers.h"
#include "bpf/program_stats.h"
#include "syscall_stats.skel.h"

namespace diskidle {
namespace {

// libbpf finds a tracepoint's id under /sys/kernel/debug/tracing (debugfs
// automounts tracefs there) or /sys/kernel/tracing. Neither exists on a host
// that mounted neither: then tracefs is mounted where the kernel expects it.
absl::Status EnsureTracefs(const std::string& tracefs_path) {
  std::string unreadable;  // a tracefs we may not look into
  for (const std::string& events :
       {std::string("/sys/kernel/debug/tracing/events"), std::string("/sys/kernel/tracing/events"),
        tracefs_path + "/events"}) {
    if (access(events.c_str(), X_OK) == 0) return absl::OkStatus();
    if (errno == EACCES && unreadable.empty()) unreadable = events;
  }
  if (!unreadable.empty()) {
    // Debugfs and tracefs are root's (mode 0700) unless mounted otherwise: a
    // user with only CAP_BPF and CAP_PERFMON cannot read the tracepoint ids.
    return absl::PermissionDeniedError(absl::StrCat(
        "collectors.syscalls needs to read tracefs (", unreadable,
        ": permission denied): run the exporter as root, or mount tracefs where it can "
        "read it (mount -t tracefs -o gid=<the exporter's group>,mode=0750 nodev ",
        tracefs_path, ")"));
  }
  if (mount("nodev", tracefs_path.c_str(), "tracefs", 0, nullptr) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "collectors.syscalls needs tracefs for the syscall tracepoints; mounting it at ",
        tracefs_path, " failed: ", ErrnoText(errno), " (mount -t tracefs nodev ", tracefs_path,
        ")"));
  }
  return absl::OkStatus();
}

// The architecture's syscall entry functions, which the fentry/fexit programs
// attach to (SYSCALL_ENTRY_PREFIX in bpf/syscall_stats.bpf.c).
#if defined(__x86_64__)
constexpr char kSyscallEntryPrefix[] = "__x64_sys_";
// x86_64's SYSCALL_DEFINE0 makes __x64_sys_<name> an alias of __do_sys_<name>
// (same address, same pt_regs argument), and BTF names only the latter.
constexpr char kSyncEntryAlias[] = "__do_sys_sync";
#elif defined(__aarch64__)
constexpr char kSyscallEntryPrefix[] = "__arm64_sys_";
constexpr char kSyncEntryAlias[] = "";  // SYSCALL_DEFINE0 defines __arm64_sys_sync itself
#else
#error "diskidle: the syscall collector supports x86_64 and arm64"
#endif

bool BtfHasFunction(const btf* btf, const std::string& name) {
  return btf__find_by_name_kind(btf, name.c_str(), BTF_KIND_FUNC) >= 0;
}

// The function an fentry/fexit program attaches to: its section name after
// the "fentry/" or "fexit/" (and libbpf's optional leading "?").
std::string AttachTarget(const bpf_program* prog) {
  std::string section = bpf_program__section_name(prog);
  size_t slash = section.find('/');
  return slash == std::string::npos ? section : section.substr(slash + 1);
}

// Checks, before the load, that the kernel's BTF has every entry function the
// fentry/fexit programs attach to, so that a missing one is a clear reason
// (libbpf would say "No such process"). One known gap is bridged: sync, the
// one traced syscall without arguments, attaches to kSyncEntryAlias where BTF
// lacks its entry function (x86_64, seen on Linux 6.18).
absl::Status ResolveEntryFunctions(const std::string& btf_path, syscall_stats* skel) {
  btf* vmlinux = btf__parse(btf_path.c_str(), nullptr);
  if (libbpf_get_error(vmlinux)) {
    return absl::FailedPreconditionError(
        absl::StrCat("fentry/fexit needs the kernel's BTF, and ", btf_path, " cannot be read"));
  }
  absl::Status status = absl::OkStatus();
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (!bpf_program__autoload(prog) || bpf_program__type(prog) != BPF_PROG_TYPE_TRACING) {
      continue;
    }
    const std::string target = AttachTarget(prog);
    if (BtfHasFunction(vmlinux, target)) continue;
    if (target == absl::StrCat(kSyscallEntryPrefix, "sync") && *kSyncEntryAlias != '\0' &&
        BtfHasFunction(vmlinux, kSyncEntryAlias)) {
      bpf_program__set_attach_target(prog, 0, kSyncEntryAlias);
      continue;
    }
    status = absl::NotFoundError(
        absl::StrCat("the kernel's BTF has no function ", target, " to attach fentry/fexit to"));
    break;
  }
  btf__free(vmlinux);
  return status;
}

}  // namespace

void SyscallProgram::SkeletonDeleter::operator()(syscall_stats* skel) const {
  syscall_stats__destroy(skel);  // detaches links, closes maps and programs
}

SyscallProgram::~SyscallProgram() = default;

absl::Status SyscallProgram::LoadPath(const SyscallProgramOptions& options,
                                      SyscallAttachMode path) {
  const bool fentry = path == SyscallAttachMode::kFentry;
  // As in BioProgram::Load: vmlinux's BTF named explicitly, so that libbpf
  // never enumerates module BTFs (refused without CAP_SYS_ADMIN).
  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof(open_opts);
  open_opts.btf_custom_path = options.btf_path.c_str();
  skel_.reset(syscall_stats__open_opts(&open_opts));
  if (!skel_) {
    return absl::InternalError(absl::StrCat("open syscall BPF object: ", ErrnoText(errno)));
  }
  syscall_stats* skel = skel_.get();
  bpf_map__set_max_entries(skel->maps.syscall_counts, options.map_entries);
  bpf_map__set_max_entries(skel->maps.syscall_processes, options.map_entries);
  // `inflight` is task storage: sized by the threads that exist, not by us.

  // Exactly one path's programs are loaded: the fentry/fexit ones are
  // "?"-sections (off unless turned on here), and a path that failed is never
  // retried in the same object (libbpf loads an object once), so a kernel
  // that refuses one fentry program still gets the tracepoints from a fresh one.
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    const bool is_fentry = bpf_program__type(prog) == BPF_PROG_TYPE_TRACING;
    // The rename hook (raw_tp) serves both paths.
    const bool both = prog == skel->progs.syscall_task_rename;
    bpf_program__set_autoload(prog, both || is_fentry == fentry);
  }
  if (fentry) {
    if (absl::Status s = ResolveEntryFunctions(options.btf_path, skel); !s.ok()) {
      skel_.reset();
      return s;
    }
  }
  const char* what = fentry ? "fentry/fexit programs" : "syscall tracepoint programs";
  if (int err = syscall_stats__load(skel); err != 0) {
    skel_.reset();
    // The fentry path's reason goes into a log line or an error that adds
    // its own advice; the tracepoint path has no fallback, so it says here
    // where the details are.
    return absl::FailedPreconditionError(absl::StrCat(
        "load ", what, ": ", ErrnoText(err),
        fentry ? "" : " (set DISKIDLE_LIBBPF_DEBUG=1 for libbpf's and the verifier's log)"));
  }
  // The skeleton attaches what was loaded (it skips programs not loaded).
  if (int err = syscall_stats__attach(skel); err != 0) {
    skel_.reset();  // detaches whatever was attached before the failure
    return absl::FailedPreconditionError(
        fentry ? absl::StrCat("attach fentry/fexit to the syscall entry functions: ",
                              ErrnoText(err))
               : absl::StrCat("attach syscalls:sys_enter_*/sys_exit_* tracepoints: ",
                              ErrnoText(err), " (needs CONFIG_FTRACE_SYSCALLS and tracefs)"));
  }
  attach_mode_ = path;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SyscallProgram>> SyscallProgram::Load(
    const SyscallProgramOptions& options) {
  QuietLibbpf();  // a refused fentry path is a log line of ours, not libbpf's warnings
  if (options.map_entries == 0) {
    return absl::InvalidArgumentError("BPF map sizes must be at least 1 entry");
  }
  if (absl::Status s = CheckBpfPrivileges(); !s.ok()) return s;

  auto program = std::unique_ptr<SyscallProgram>(new SyscallProgram());
  std::string why_not_fentry;  // empty: fentry/fexit attached, or not tried
  if (options.attach != SyscallAttachMode::kTracepoint) {
    absl::Status fentry = program->LoadPath(options, SyscallAttachMode::kFentry);
    if (!fentry.ok() && options.attach == SyscallAttachMode::kFentry) {
      return absl::FailedPreconditionError(absl::StrCat(
          "collectors.syscalls.attach is fentry, but this kernel refuses it: ", fentry.message(),
          " (set collectors.syscalls.attach to auto or tracepoint; DISKIDLE_LIBBPF_DEBUG=1 shows "
          "libbpf's log)"));
    }
    if (!fentry.ok()) why_not_fentry = std::string(fentry.message());
  }
  if (program->attach_mode_ != SyscallAttachMode::kFentry) {
    if (absl::Status s = EnsureTracefs(options.tracefs_path); !s.ok()) {
      if (why_not_fentry.empty()) return s;
      return absl::Status(s.code(), absl::StrCat(s.message(), "; fentry/fexit, which needs no "
                                                 "tracefs, failed: ", why_not_fentry));
    }
    if (absl::Status s = program->LoadPath(options, SyscallAttachMode::kTracepoint); !s.ok()) {
      return s;
    }
  }

  int programs = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, program->skel_->obj) {
    if (bpf_program__autoload(prog)) ++programs;
  }
  const int syscalls = programs / 2;  // an entry and an exit program each
  if (program->attach_mode_ == SyscallAttachMode::kFentry) {
    program->attach_description_ = absl::StrCat(
        "fentry/fexit on ", kSyscallEntryPrefix, "* of ", syscalls,
        " syscalls (only the traced syscalls pay for the collector)");
  } else {
    program->attach_description_ = absl::StrCat(
        "syscall tracepoints (sys_enter_*/sys_exit_* of ", syscalls, " syscalls), ",
        why_not_fentry.empty()
            ? std::string("as collectors.syscalls.attach says (fentry/fexit not tried)")
            : absl::StrCat("because fentry/fexit failed: ", why_not_fentry),
        "; every syscall of every process takes the kernel's traced path while attached");
  }
  program->num_cpus_ = libbpf_num_possible_cpus();
  if (program->num_cpus_ <= 0) return absl::InternalError("cannot read the number of possible CPUs");
  return program;
}

absl::StatusOr<SyscallSnapshot> SyscallProgram::Snapshot() {
  SyscallSnapshot snap;
  syscall_stats* skel = skel_.get();
  snap.map_capacity = bpf_map__max_entries(skel->maps.syscall_counts);
  snap.process_map_capacity = bpf_map__max_entries(skel->maps.syscall_processes);

  // No per-CPU cache here: the map is the whole truth. Each field only grows,
  // so a value read while the program updates it is at worst a call early.
  int fd = bpf_map__fd(skel->maps.syscall_counts);
  constexpr size_t kStride = (sizeof(syscall_value) + 7) & ~size_t{7};
  auto add = [&](const syscall_key& key, const char* raw) {
    SyscallCount count;
    count.key = key;
    for (int cpu = 0; cpu < num_cpus_; ++cpu) {
      syscall_value value;
      memcpy(&value, raw + static_cast<size_t>(cpu) * kStride, sizeof(value));
      count.counts.Add(value);
    }
    snap.counts.push_back(count);
  };
  if (!ForEachEntryBatched<syscall_key>(fd, kStride * static_cast<size_t>(num_cpus_), add)) {
    snap.counts.clear();  // a walk that failed half-way: read key by key instead
    std::vector<char> raw(kStride * static_cast<size_t>(num_cpus_));
    ForEachKey<syscall_key>(fd, [&](const syscall_key& key) {
      if (bpf_map_lookup_elem(fd, &key, raw.data()) == 0) add(key, raw.data());
    });
  }

  int processes_fd = bpf_map__fd(skel->maps.syscall_processes);
  ForEachKey<process_key>(processes_fd, [&](const process_key& key) {
    process_info info{};
    if (bpf_map_lookup_elem(processes_fd, &key, &info) != 0) return;  // deleted meanwhile
    snap.comms[{key.tgid, key.start_boottime_ns}] =
        std::string(info.comm, strnlen(info.comm, sizeof(info.comm)));
  });
  snap.process_map_entries = static_cast<uint32_t>(snap.comms.size());

  int drops_fd = bpf_map__fd(skel->maps.syscall_drops);
  PerCpuValues<uint64_t> values(num_cpus_);
  for (uint32_t reason = 0; reason < DISKIDLE_SYSCALL_DROP_REASONS; ++reason) {
    if (!values.Lookup(drops_fd, &reason)) {
      return absl::InternalError(absl::StrCat("read BPF map syscall_drops: ", ErrnoText(errno)));
    }
    snap.drops[reason] = values.Sum();
  }
  snap.programs = LoadedProgramStats(skel->obj);
  return snap;
}

absl::Status SyscallProgram::Forget(const std::vector<ProcessId>& processes) {
  DeleteProcessEntries<syscall_key>(bpf_map__fd(skel_->maps.syscall_counts),
                                    bpf_map__fd(skel_->maps.syscall_processes), processes);
  return absl::OkStatus();
}

}  // namespace diskidle
