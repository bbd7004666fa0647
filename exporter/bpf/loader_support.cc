#include "bpf/loader_support.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;  // Linux 5.8+
constexpr int kCapBpf = 39;      // Linux 5.8+

int QuietLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || getenv("DISKIDLE_LIBBPF_DEBUG") == nullptr) return 0;
  return vfprintf(stderr, format, args);
}

}  // namespace

std::string ErrnoText(int err) { return strerror(err < 0 ? -err : err); }

void QuietLibbpf() { libbpf_set_print(QuietLibbpfPrint); }

namespace {

// The effective capability set from /proc/self/status (0 if unreadable).
uint64_t EffectiveCapabilities() {
  auto status = ReadFileToString("/proc/self/status");
  if (!status.ok()) return 0;
  uint64_t effective = 0;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "CapEff:")) {
      line = absl::StripAsciiWhitespace(line);
      if (!absl::SimpleHexAtoi(line, &effective)) effective = 0;
    }
  }
  return effective;
}

}  // namespace

bool HasCapSysAdmin() { return (EffectiveCapabilities() >> kCapSysAdmin) & 1; }

absl::Status CheckBpfPrivileges() {
  uint64_t effective = EffectiveCapabilities();
  auto has = [effective](int cap) { return (effective >> cap) & 1; };
  if ((has(kCapBpf) && has(kCapPerfmon)) || has(kCapSysAdmin)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      "missing privileges to load BPF programs: run as root, or grant CAP_BPF and CAP_PERFMON "
      "(CAP_SYS_ADMIN on kernels before 5.8)");
}

bool KernelBtfHasTracepoint(const std::string& btf_path, const std::string& tracepoint) {
  struct btf* vmlinux = btf__parse(btf_path.c_str(), nullptr);
  if (libbpf_get_error(vmlinux)) return false;  // NULL or an error pointer
  const std::string type_name = absl::StrCat("btf_trace_", tracepoint);
  bool found = btf__find_by_name_kind(vmlinux, type_name.c_str(), BTF_KIND_TYPEDEF) >= 0;
  btf__free(vmlinux);
  return found;
}

std::vector<AttachMode> AttachModesToTry(AttachMode requested, bool btf_tracepoint) {
  std::vector<AttachMode> modes;
  if (requested == AttachMode::kTpBtf || (requested == AttachMode::kAuto && btf_tracepoint)) {
    modes.push_back(AttachMode::kTpBtf);
  }
  if (requested != AttachMode::kTpBtf) modes.push_back(AttachMode::kRawTp);
  return modes;
}

}  // namespace diskidle
