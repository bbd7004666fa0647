#include "bpf/owner_hooks.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "bpf/loader_support.h"

// After loader_support.h: the skeleton types the program's .bss with
// bio_stats.h's struct hot_line.
#include "bio_stats.skel.h"

namespace diskidle {
namespace {

struct OwnerHook {
  const char* tracepoint;
  bpf_program* btf;
  bpf_program* raw;
  bpf_link** btf_link;
  bpf_link** raw_link;
  bool journal;  // which group: journal (true) or writeback (false)
};

bool Wanted(const OwnerHook& hook, OwnerHookGroups groups) {
  return hook.journal ? groups.journal : groups.writeback;
}

std::vector<OwnerHook> Hooks(bio_stats* skel) {
  auto& p = skel->progs;
  auto& l = skel->links;
  return {
      {"writeback_dirty_folio", p.wb_folio_btf, p.wb_folio_raw, &l.wb_folio_btf, &l.wb_folio_raw,
       false},
      {"writeback_dirty_page", p.wb_page_btf, p.wb_page_raw, &l.wb_page_btf, &l.wb_page_raw,
       false},
      {"ext4_sync_file_enter", p.jf_sync_btf, p.jf_sync_raw, &l.jf_sync_btf, &l.jf_sync_raw,
       true},
      {"ext4_sync_file_exit", p.jf_sync_x_btf, p.jf_sync_x_raw, &l.jf_sync_x_btf,
       &l.jf_sync_x_raw, true},
      {"ext4_sync_fs", p.jf_syncfs_btf, p.jf_syncfs_raw, &l.jf_syncfs_btf, &l.jf_syncfs_raw, true},
      {"jbd2_start_commit", p.jf_start_btf, p.jf_start_raw, &l.jf_start_btf, &l.jf_start_raw,
       true},
      {"jbd2_end_commit", p.jf_end_btf, p.jf_end_raw, &l.jf_end_btf, &l.jf_end_raw, true},
  };
}

}  // namespace

namespace {

// The module whose BTF types `tracepoint` when it is not in vmlinux: the
// journal hooks' tracepoints are defined in ext4 and jbd2.
std::string ModuleOf(std::string_view tracepoint) {
  if (tracepoint.substr(0, 5) == "ext4_") return "ext4";
  if (tracepoint.substr(0, 5) == "jbd2_") return "jbd2";
  return "";
}

bool BtfHasTracepoint(const struct btf* btf, const char* tracepoint) {
  return btf != nullptr && btf__find_by_name_kind(btf, absl::StrCat("btf_trace_", tracepoint).c_str(),
                                                  BTF_KIND_TYPEDEF) >= 0;
}

// Whether the BTF of `module` (split on vmlinux's) types `tracepoint`.
bool ModuleBtfHasTracepoint(struct btf* vmlinux, const std::string& module,
                            const char* tracepoint) {
  if (vmlinux == nullptr || module.empty()) return false;
  const std::string path = absl::StrCat("/sys/kernel/btf/", module);
  struct btf* split = btf__parse_split(path.c_str(), vmlinux);
  if (libbpf_get_error(split)) return false;  // module not loaded, or no BTF
  bool found = BtfHasTracepoint(split, tracepoint);
  btf__free(split);
  return found;
}

struct btf* ParseVmlinux(const std::string& btf_path) {
  struct btf* vmlinux = btf__parse(btf_path.c_str(), nullptr);
  return libbpf_get_error(vmlinux) ? nullptr : vmlinux;
}

}  // namespace

bool JournalHooksNeedModuleBtf(const std::string& btf_path) {
  struct btf* vmlinux = ParseVmlinux(btf_path);
  bool needed = vmlinux != nullptr && !BtfHasTracepoint(vmlinux, "jbd2_start_commit") &&
                ModuleBtfHasTracepoint(vmlinux, "jbd2", "jbd2_start_commit");
  btf__free(vmlinux);
  return needed;
}

void ChooseOwnerHooks(bio_stats* skel, const std::string& btf_path, bool use_btf,
                      bool module_btf, OwnerHookGroups groups) {
  // One parse of the kernel BTF for all hooks (KernelBtfHasTracepoint parses
  // it per call). A tracepoint without a btf_trace_ typedef is taken as
  // absent in both modes: built-in tracepoints always have one, and a
  // module's are in its own BTF.
  struct btf* vmlinux = ParseVmlinux(btf_path);
  auto present = [vmlinux, module_btf](const char* tracepoint) {
    return BtfHasTracepoint(vmlinux, tracepoint) ||
           (module_btf && ModuleBtfHasTracepoint(vmlinux, ModuleOf(tracepoint), tracepoint));
  };
  bool folio = present("writeback_dirty_folio");
  for (const OwnerHook& hook : Hooks(skel)) {
    bool load = Wanted(hook, groups) && present(hook.tracepoint);
    // Kernels have one of the two dirty tracepoints (folios since 5.17);
    // with both, the folio one alone fires once per newly dirtied folio.
    if (std::string_view(hook.tracepoint) == "writeback_dirty_page" && folio) load = false;
    bpf_program__set_autoload(hook.btf, load && use_btf);
    bpf_program__set_autoload(hook.raw, load && !use_btf);
    bpf_program__set_autoattach(hook.btf, false);
    bpf_program__set_autoattach(hook.raw, false);
  }
  btf__free(vmlinux);
}

std::vector<std::string> AttachOwnerHooks(bio_stats* skel, OwnerHookGroups groups) {
  std::vector<std::string> result;
  for (const OwnerHook& hook : Hooks(skel)) {
    if (!Wanted(hook, groups)) {
      result.push_back(absl::StrCat(hook.tracepoint, " (off)"));
      continue;
    }
    bool btf = bpf_program__autoload(hook.btf);
    if (!btf && !bpf_program__autoload(hook.raw)) {
      result.push_back(absl::StrCat(hook.tracepoint, " (not loaded)"));
      continue;
    }
    bpf_link* link = bpf_program__attach(btf ? hook.btf : hook.raw);
    if (int err = libbpf_get_error(link); err != 0) {
      result.push_back(absl::StrCat(hook.tracepoint, " (not attached: ", ErrnoText(err), ")"));
      continue;
    }
    *(btf ? hook.btf_link : hook.raw_link) = link;
    result.push_back(hook.tracepoint);
  }
  return result;
}

}  // namespace diskidle
