// Loads bio_stats.bpf.c into the kernel, attaches it, and reads its maps.
// Everything is detached and unloaded when the object is destroyed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/bio_snapshot.h"
#include "model/attach_mode.h"

struct bio_stats;  // generated skeleton

namespace diskidle {

// What loading needs, and nothing else (the caller maps its config onto it).
struct BioProgramOptions {
  // tp_btf, raw_tp, or auto (tp_btf, falling back to raw_tp).
  AttachMode attach = AttachMode::kAuto;
  // Sizes (entries) of the bio_counts, processes and dirtiers maps; each >= 1.
  uint32_t bio_map_entries = 0;
  uint32_t process_map_entries = 0;
  uint32_t dirtier_map_entries = 16384;
  // Fill bio_key.thread with the submitting thread's name (the thread label).
  bool record_threads = false;
  // Load the writeback and the journal attribution hooks (owner_hooks.h).
  bool writeback_hooks = true;
  bool journal_hooks = true;
  // The kernel's BTF, e.g. /sys/kernel/btf/vmlinux.
  std::string btf_path;
};

class BioProgram : public BioMaps {
 public:
  // Checks privileges and kernel support, sizes the maps, loads and attaches.
  static absl::StatusOr<std::unique_ptr<BioProgram>> Load(const BioProgramOptions& options);
  ~BioProgram() override;

  BioProgram(const BioProgram&) = delete;
  BioProgram& operator=(const BioProgram&) = delete;

  absl::StatusOr<BioSnapshot> Snapshot() override;
  absl::Status Forget(const std::vector<ProcessId>& processes) override;

  // kTpBtf or kRawTp: what is attached.
  AttachMode attach_mode() const { return attach_mode_; }
  // The writeback and journal hooks (owner_hooks.h): one line each, saying
  // whether it is attached.
  const std::vector<std::string>& owner_hooks() const { return owner_hooks_; }
  // Whether a cache hit reads the syscall number without a helper call
  // (block_bio_queue_btf, Linux 6.2+); false for the compat and raw_tp builds.
  bool fast_syscall_read() const { return fast_syscall_read_; }

 private:
  BioProgram() = default;
  // The attached program's fd (for its bpf_prog_info run stats) and name.
  int program_fd() const;
  std::string program_name() const;
  std::vector<BioCount> ReadCountMap() const;
  absl::Status ReadDrops(BioSnapshot& snap) const;
  void ReadComms(BioSnapshot& snap) const;
  void ReadDirtierCgroups(BioSnapshot& snap) const;
  absl::StatusOr<std::vector<bio_cache>> ReadCache() const;
  void SetCacheBypass(bool bypass);
  absl::Status ReadCounts(std::vector<BioCount>& out);
  struct SkeletonDeleter {
    void operator()(bio_stats* skel) const;
  };
  std::unique_ptr<bio_stats, SkeletonDeleter> skel_;
  AttachMode attach_mode_ = AttachMode::kAuto;
  std::vector<std::string> owner_hooks_;
  // tp_btf only: block_bio_queue_btf (true) or its pre-6.2 twin (false).
  bool fast_syscall_read_ = false;
  int num_cpus_ = 0;
};

}  // namespace diskidle
