#include "bpf/bio_program.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "bio_stats.skel.h"
#include "bpf/loader_support.h"
#include "bpf/map_helpers.h"
#include "bpf/owner_hooks.h"
#include "config/host_paths.h"

namespace diskidle {
namespace {

// Keys are plain bytes (padding zeroed by the program): order them as bytes.
struct BioKeyLess {
  bool operator()(const bio_key& a, const bio_key& b) const {
    return memcmp(&a, &b, sizeof(bio_key)) < 0;
  }
};

}  // namespace

void BioProgram::SkeletonDeleter::operator()(bio_stats* skel) const {
  bio_stats__destroy(skel);  // detaches links, closes maps and programs
}

BioProgram::~BioProgram() = default;

absl::StatusOr<std::unique_ptr<BioProgram>> BioProgram::Load(const BioProgramOptions& options) {
  QuietLibbpf();
  if (options.bio_map_entries == 0 || options.process_map_entries == 0 ||
      options.dirtier_map_entries == 0) {
    return absl::InvalidArgumentError("BPF map sizes must be at least 1 entry");
  }
  if (absl::Status s = CheckBpfPrivileges(); !s.ok()) return s;
  const std::string& btf_path = options.btf_path;
  if (absl::Status s = CheckKernelBtf(btf_path); !s.ok()) return s;

  // tp_btf needs the tracepoint's BTF typedef; raw_tp only needs the tracepoint.
  bool btf_tracepoint = KernelBtfHasTracepoint(btf_path, "block_bio_queue");
  // Module BTF only for the kernel's own BTF (a configured file is used as is).
  const bool module_btf = options.journal_hooks && btf_path == "/sys/kernel/btf/vmlinux" &&
                          HasCapSysAdmin() && JournalHooksNeedModuleBtf(btf_path);
  const AttachMode attach = options.attach;
  const std::vector<AttachMode> modes = AttachModesToTry(attach, btf_tracepoint);
  if (attach == AttachMode::kTpBtf && !btf_tracepoint) {
    return absl::NotFoundError(
        "kernel has no BTF for tracepoint block:block_bio_queue: set "
        "collectors.bio.attach to auto or raw_tp");
  }

  // tp_btf comes in two builds of the same logic: block_bio_queue_btf reads
  // the syscall number on a cache hit with bpf_rdonly_cast() (Linux 6.2+, no
  // helper call), block_bio_queue_btf_compat with bpf_task_pt_regs(). A kernel
  // without the kfunc refuses the first at load, and the second is tried.
  struct Variant {
    AttachMode mode;
    bool fast;
  };
  std::vector<Variant> variants;
  for (AttachMode mode : modes) {
    if (mode == AttachMode::kTpBtf) variants.push_back({mode, true});
    variants.push_back({mode, false});
  }

  absl::Status last_error = absl::UnknownError("no attach mode tried");
  for (const Variant& variant : variants) {
    const AttachMode mode = variant.mode;
    auto program = std::unique_ptr<BioProgram>(new BioProgram());
    // With CAP_BPF but without CAP_SYS_ADMIN the kernel refuses to enumerate
    // module BTFs (BPF_BTF_GET_NEXT_ID), and libbpf 1.1 then fails every CO-RE
    // relocation whose type vmlinux lacks (the ___old flavours) instead of
    // skipping it. Everything traced is built into vmlinux, so naming its BTF
    // explicitly keeps libbpf from looking at modules at all.
    bpf_object_open_opts open_opts{};
    open_opts.sz = sizeof(open_opts);
    // The exception: ext4 and jbd2 built as modules (Debian's kernels) type
    // the journal hooks' tracepoints and journal_s in their own BTF. With
    // CAP_SYS_ADMIN libbpf may read module BTF, and then it must not be
    // confined to vmlinux's.
    if (!module_btf) open_opts.btf_custom_path = btf_path.c_str();
    program->skel_.reset(bio_stats__open_opts(&open_opts));
    if (!program->skel_) {
      return absl::InternalError(absl::StrCat("open BPF object: ", ErrnoText(errno)));
    }
    bio_stats* skel = program->skel_.get();
    bpf_map__set_max_entries(skel->maps.bio_counts, options.bio_map_entries);
    bpf_map__set_max_entries(skel->maps.processes, options.process_map_entries);
    bpf_map__set_max_entries(skel->maps.dirtiers, options.dirtier_map_entries);
    skel->rodata->record_threads = options.record_threads ? 1 : 0;
    bool use_btf = mode == AttachMode::kTpBtf;
    bpf_program__set_autoload(skel->progs.block_bio_queue_btf, use_btf && variant.fast);
    bpf_program__set_autoload(skel->progs.block_bio_queue_btf_compat, use_btf && !variant.fast);
    bpf_program__set_autoload(skel->progs.block_bio_queue_raw, !use_btf);
    // Follows a process's renames (exec()) in its table: in every kernel.
    bpf_program__set_autoload(skel->progs.task_rename_btf, use_btf);
    bpf_program__set_autoload(skel->progs.task_rename_raw, !use_btf);
    // Keeps the cache from matching a new task on an exited one's stack.
    bpf_program__set_autoload(skel->progs.task_newtask_btf, use_btf);
    bpf_program__set_autoload(skel->progs.task_newtask_raw, !use_btf);
    const OwnerHookGroups groups{.writeback = options.writeback_hooks,
                                 .journal = options.journal_hooks};
    ChooseOwnerHooks(skel, btf_path, use_btf, module_btf, groups);

    if (int err = bio_stats__load(skel); err != 0) {
      last_error = absl::FailedPreconditionError(absl::StrCat(
          "load BPF program (", AttachModeName(mode), "/block_bio_queue): ", ErrnoText(err),
          " (needs Linux 5.15+ with BTF; set DISKIDLE_LIBBPF_DEBUG=1 for the verifier log)"));
      continue;
    }
    if (int err = bio_stats__attach(skel); err != 0) {
      if (err == -ENOENT || err == -EINVAL) {
        last_error = absl::NotFoundError(absl::StrCat(
            "attach ", AttachModeName(mode), "/block_bio_queue: ", ErrnoText(err),
            ": this kernel has no block:block_bio_queue tracepoint"));
      } else {
        last_error = absl::PermissionDeniedError(
            absl::StrCat("attach ", AttachModeName(mode), "/block_bio_queue: ", ErrnoText(err)));
      }
      continue;
    }
    // Optional: a hook that does not attach leaves its bios `kernel`.
    program->owner_hooks_ = AttachOwnerHooks(skel, groups);
    program->attach_mode_ = mode;
    program->fast_syscall_read_ = variant.fast;
    program->num_cpus_ = libbpf_num_possible_cpus();
    if (program->num_cpus_ <= 0) {
      return absl::InternalError("cannot read the number of possible CPUs");
    }
    return program;
  }
  return last_error;
}

int BioProgram::program_fd() const {
  if (attach_mode_ != AttachMode::kTpBtf) return bpf_program__fd(skel_->progs.block_bio_queue_raw);
  return bpf_program__fd(fast_syscall_read_ ? skel_->progs.block_bio_queue_btf
                                            : skel_->progs.block_bio_queue_btf_compat);
}

// The metric label names the attach mode; both tp_btf builds count alike.
std::string BioProgram::program_name() const {
  return attach_mode_ == AttachMode::kTpBtf ? "block_bio_queue_btf" : "block_bio_queue_raw";
}

std::vector<BioCount> BioProgram::ReadCountMap() const {
  std::vector<BioCount> counts;
  int fd = bpf_map__fd(skel_->maps.bio_counts);
  // Per-CPU values sit at 8-byte strides, one per possible CPU.
  constexpr size_t kStride = (sizeof(bio_value) + 7) & ~size_t{7};
  bool batched = ForEachEntryBatched<bio_key>(
      fd, kStride * static_cast<size_t>(num_cpus_), [&](const bio_key& key, const char* raw) {
        BioCount count;
        count.key = key;
        for (int cpu = 0; cpu < num_cpus_; ++cpu) {
          bio_value value;
          memcpy(&value, raw + static_cast<size_t>(cpu) * kStride, sizeof(value));
          count.bios += value.bios;
          count.bytes += value.bytes;
        }
        counts.push_back(count);
      });
  if (batched) return counts;
  counts.clear();  // a walk that failed half-way: read key by key instead
  PerCpuValues<bio_value> values(num_cpus_);
  ForEachKey<bio_key>(fd, [&](const bio_key& key) {
    if (!values.Lookup(fd, &key)) return;  // deleted meanwhile
    BioCount count;
    count.key = key;
    count.bios = values.Sum(&bio_value::bios);
    count.bytes = values.Sum(&bio_value::bytes);
    counts.push_back(count);
  });
  return counts;
}

// Every slot of every CPU, as one flat vector (slot-major).
absl::StatusOr<std::vector<bio_cache>> BioProgram::ReadCache() const {
  int fd = bpf_map__fd(skel_->maps.cache);
  PerCpuValues<bio_cache> values(num_cpus_);
  std::vector<bio_cache> slots;
  slots.reserve(static_cast<size_t>(DISKIDLE_CACHE_SLOTS) * num_cpus_ * 2);
  // The slots of the first DISKIDLE_BSS_CACHE_CPUS CPUs are in .bss, which is
  // mapped into our memory; the per-CPU map holds the others (and zeroes for
  // these CPUs). A copy may be torn while the program writes the slot: the
  // caller compares two reads (seq and counts) and retries until they agree.
  // Copied word by word in address order, as the kernel copies a map value,
  // so the protocol's reasoning (bio_stats.h) holds for both.
  static_assert(sizeof(bio_cache) % sizeof(uint64_t) == 0);
  const int bss_cpus = std::min(num_cpus_, DISKIDLE_BSS_CACHE_CPUS);
  for (int i = 0; i < bss_cpus * DISKIDLE_CACHE_SLOTS; ++i) {
    const volatile uint64_t* from =
        reinterpret_cast<const volatile uint64_t*>(&skel_->bss->cache_slots[i]);
    uint64_t words[sizeof(bio_cache) / sizeof(uint64_t)];
    for (size_t w = 0; w < std::size(words); ++w) words[w] = from[w];
    bio_cache copy;
    memcpy(&copy, words, sizeof(copy));
    slots.push_back(copy);
  }
  for (uint32_t slot = 0; slot < DISKIDLE_CACHE_SLOTS; ++slot) {
    if (!values.Lookup(fd, &slot)) {
      return absl::InternalError(absl::StrCat("read BPF map cache: ", ErrnoText(errno)));
    }
    for (int cpu = 0; cpu < num_cpus_; ++cpu) slots.push_back(values.At(cpu));
  }
  return slots;
}

// processes: comm of each (tgid, start time), as the kernel last recorded it.
void BioProgram::ReadComms(BioSnapshot& snap) const {
  int fd = bpf_map__fd(skel_->maps.processes);
  auto record = [&snap](const process_key& key, const process_info& info) {
    snap.comms[{key.tgid, key.start_boottime_ns}] =
        std::string(info.comm, strnlen(info.comm, sizeof(info.comm)));
  };
  bool batched = ForEachEntryBatched<process_key>(
      fd, sizeof(process_info), [&](const process_key& key, const char* raw) {
        process_info info;
        memcpy(&info, raw, sizeof(info));
        record(key, info);
      });
  if (!batched) {
    snap.comms.clear();  // a walk that failed half-way: read key by key instead
    ForEachKey<process_key>(fd, [&](const process_key& key) {
      process_info info{};
      if (bpf_map_lookup_elem(fd, &key, &info) != 0) return;  // deleted meanwhile
      record(key, info);
    });
  }
  snap.process_map_entries = static_cast<uint32_t>(snap.comms.size());
}

// drops: one per-CPU counter per reason.
absl::Status BioProgram::ReadDrops(BioSnapshot& snap) const {
  int fd = bpf_map__fd(skel_->maps.drops);
  PerCpuValues<uint64_t> values(num_cpus_);
  for (uint32_t reason = 0; reason < DISKIDLE_DROP_REASONS; ++reason) {
    if (!values.Lookup(fd, &reason)) {
      return absl::InternalError(absl::StrCat("read BPF map drops: ", ErrnoText(errno)));
    }
    snap.drops[reason] = values.Sum();
  }
  return absl::OkStatus();
}

void BioProgram::ReadDirtierCgroups(BioSnapshot& snap) const {
  // .bss is mapped into our memory; each slot is one aligned word, read whole.
  for (const volatile __u64& slot : skel_->bss->dirtier_cgroups) {
    const uint64_t id = slot;
    if (id != 0 && std::find(snap.dirtier_cgroups.begin(), snap.dirtier_cgroups.end(), id) ==
                       snap.dirtier_cgroups.end()) {
      snap.dirtier_cgroups.push_back(id);
    }
  }
}

void BioProgram::SetCacheBypass(bool bypass) {
  // .bss is mapped into our memory: a store the program sees on its next run.
  __atomic_store_n(&skel_->bss->hot.cache_bypass, bypass ? 1u : 0u, __ATOMIC_SEQ_CST);
}

// The program keeps pending counts of recent keys in per-CPU `cache` slots and
// moves them into bio_counts when a slot's key changes (bio_stats.h). With the cache
// bypassed, each CPU moves its pending counts at most once more, so reading
// cache, map, cache until nothing moved in between settles quickly, and the
// sum of map and cache is then exact: nothing counted twice or missed.
absl::Status BioProgram::ReadCounts(std::vector<BioCount>& out) {
  constexpr int kMaxAttempts = 100;
  SetCacheBypass(true);
  absl::Status result = absl::UnavailableError(
      "BPF counters kept moving while being read (snapshot did not settle)");
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto before = ReadCache();
    if (!before.ok()) {
      result = before.status();
      break;
    }
    std::vector<BioCount> counts = ReadCountMap();
    auto after = ReadCache();
    if (!after.ok()) {
      result = after.status();
      break;
    }
    bool settled = true;
    for (size_t i = 0; i < before->size() && settled; ++i) {
      const bio_cache& a = (*before)[i];
      const bio_cache& b = (*after)[i];
      settled = a.seq % 2 == 0 && a.seq == b.seq && a.pending_bios == b.pending_bios &&
                a.pending_bytes == b.pending_bytes;
    }
    if (!settled) continue;
    std::map<bio_key, size_t, BioKeyLess> index;  // key -> position in counts
    for (size_t i = 0; i < counts.size(); ++i) index.emplace(counts[i].key, i);
    for (const bio_cache& slot : *after) {
      if (slot.pending_bios == 0) continue;
      auto [it, inserted] = index.try_emplace(slot.key, counts.size());
      if (inserted) {
        BioCount count;
        count.key = slot.key;
        counts.push_back(count);
      }
      counts[it->second].bios += slot.pending_bios;
      counts[it->second].bytes += slot.pending_bytes;
    }
    out = std::move(counts);
    result = absl::OkStatus();
    break;
  }
  SetCacheBypass(false);
  return result;
}

absl::StatusOr<BioSnapshot> BioProgram::Snapshot() {
  BioSnapshot snap;
  bio_stats* skel = skel_.get();
  snap.bio_map_capacity = bpf_map__max_entries(skel->maps.bio_counts);
  snap.process_map_capacity = bpf_map__max_entries(skel->maps.processes);

  // bio_counts plus the per-CPU cache of pending counts, read consistently.
  if (absl::Status s = ReadCounts(snap.counts); !s.ok()) return s;
  ReadComms(snap);
  if (absl::Status s = ReadDrops(snap); !s.ok()) return s;
  // The kernel's own accounting of our program (kernel.bpf_stats_enabled=1).
  bpf_prog_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(program_fd(), &info, &info_len) == 0) {
    snap.program_name = program_name();
    snap.program_run_time_ns = info.run_time_ns;
    snap.program_run_count = info.run_cnt;
    snap.program_recursion_misses = info.recursion_misses;
  }
  snap.hook_programs = LoadedProgramStats(skel->obj, program_fd());
  ReadDirtierCgroups(snap);
  return snap;
}

absl::Status BioProgram::Forget(const std::vector<ProcessId>& processes) {
  DeleteProcessEntries<bio_key>(bpf_map__fd(skel_->maps.bio_counts),
                                bpf_map__fd(skel_->maps.processes), processes);
  return absl::OkStatus();
}

}  // namespace diskidle
