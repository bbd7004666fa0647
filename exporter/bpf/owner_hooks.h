// The optional programs of bio_stats.bpf.c that attribute a kernel thread's
// bios to the process they are for (owner_attribution.bpf.h): page dirtying
// (writeback) and ext4/jbd2 journal commits. Each is loaded only when the
// kernel has its tracepoint, and attached on its own, so a kernel without
// ext4 or with writeback_dirty_page instead of _folio still counts bios.
#pragma once

#include <string>
#include <vector>

struct bio_stats;

namespace diskidle {

// Whether the journal hooks' tracepoints are typed only by module BTF: ext4
// and jbd2 built as modules (Debian's kernels), not in vmlinux's BTF at
// `btf_path`, but in /sys/kernel/btf/{ext4,jbd2}. Loading them then needs
// libbpf to read module BTF (no btf_custom_path, and CAP_SYS_ADMIN).
bool JournalHooksNeedModuleBtf(const std::string& btf_path);

// Which groups of hooks the config wants (collectors.bio.writeback_attribution
// and journal_attribution).
struct OwnerHookGroups {
  bool writeback = true;  // writeback_dirty_folio / _page
  bool journal = true;    // ext4_sync_file_*, ext4_sync_fs, jbd2_*_commit
};

// Before load: enables the owner programs of the wanted groups in the chosen
// mode (tp_btf when `use_btf`, else raw_tp) whose tracepoints the kernel BTF
// at `btf_path` types (or, with `module_btf`, the BTF of the module that
// defines them), and turns off the skeleton's automatic attach for all of them.
void ChooseOwnerHooks(bio_stats* skel, const std::string& btf_path, bool use_btf,
                      bool module_btf, OwnerHookGroups groups);

// After load: attaches the enabled owner programs one by one (their links go
// into the skeleton, which detaches them on destroy). Returns one line per
// hook: "<tracepoint>" when attached, "<tracepoint> (not attached: why)"
// otherwise, "<tracepoint> (off)" for a group the config turned off, and
// "<tracepoint> (not loaded)" for a tracepoint the kernel lacks (or
// writeback_dirty_page, when writeback_dirty_folio is there).
std::vector<std::string> AttachOwnerHooks(bio_stats* skel, OwnerHookGroups groups);

}  // namespace diskidle
