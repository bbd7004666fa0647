// The host paths a config points at: the proc and sys roots, and the kernel's
// BTF under sysfs when a BPF collector needs it. Checked by --check_config and
// at start-up alike, so a config that --check_config passes does not then fail
// start-up on these.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "config/config.h"

namespace diskidle {

// OK, or one line naming the key, the path and the fix. Needs no privileges:
// it only stats and checks read access.
absl::Status CheckHostPaths(const Config& config);

// The kernel's BTF at `btf` (<sysfs>/kernel/btf/vmlinux) is readable; the BPF
// loaders check it the same way.
absl::Status CheckKernelBtf(const std::string& btf);

}  // namespace diskidle
