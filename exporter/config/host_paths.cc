#include "config/host_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

constexpr char kDefaultBtf[] = "/sys/kernel/btf/vmlinux";

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A configured root that is not a directory is a mistake in the config.
absl::Status CheckRoot(const char* key, const std::string& path, const char* host) {
  if (IsDirectory(path)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(key, ": ", path, " is not a directory (in a container, mount the host's ", host,
                   " there and point ", key, " at it)"));
}

// The collectors that load a BPF program at start-up, and so need the BTF.
// (/debug/stacks loads its program per request, not at start-up.)
bool NeedsBtf(const Config& config) {
  const CollectorsConfig& c = config.collectors;
  return c.bio.enabled || c.syscalls.enabled || c.disk_latency.enabled;
}

}  // namespace

absl::Status CheckHostPaths(const Config& config) {
  const std::string& procfs = config.paths.procfs;
  const std::string& sysfs = config.paths.sysfs;
  if (absl::Status s = CheckRoot("paths.procfs", procfs, "/proc"); !s.ok()) return s;
  if (absl::Status s = CheckRoot("paths.sysfs", sysfs, "/sys"); !s.ok()) return s;
  // A directory that is not a procfs (an empty mount point, a wrong path)
  // would start and then fail every scrape. Every procfs has a stat file.
  // (diskstats is not asked for here: until it is read, /healthz says 503.)
  if (!IsRegularFile(procfs + "/stat")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "paths.procfs: ", procfs, " has no stat file, so it is not a procfs (in a container, "
        "mount the host's /proc there and point paths.procfs at it)"));
  }
  if (!NeedsBtf(config)) return absl::OkStatus();
  return CheckKernelBtf(sysfs + "/kernel/btf/vmlinux");
}

absl::Status CheckKernelBtf(const std::string& btf) {
  if (access(btf.c_str(), R_OK) == 0) return absl::OkStatus();
  // Under a configured paths.sysfs, the likelier mistake is the setting.
  if (btf != kDefaultBtf) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel BTF not found at ", btf, ": check paths.sysfs (it must be the host's /sys; the "
        "kernel also needs CONFIG_DEBUG_INFO_BTF=y, Linux 5.15+)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "kernel BTF not found at ", btf, ": diskidle needs a kernel built with "
      "CONFIG_DEBUG_INFO_BTF=y (Linux 5.15+)"));
}

}  // namespace diskidle
