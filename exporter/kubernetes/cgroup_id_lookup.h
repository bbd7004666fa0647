// From a cgroup v2 id (what bpf_get_current_cgroup_id() returns) to the
// cgroup's path under the cgroup2 mount.
//
// The id is the cgroup directory's kernfs node id, which on 64-bit kernels is
// also its inode number. The exact and fast way back is the kernfs file handle
// (type FILEID_KERNFS, the 8-byte id): open_by_handle_at() on the mount, then
// readlink /proc/self/fd/N — ~5 us on Linux 6.18 in this project's VM, and
// ESTALE once the cgroup is removed. It needs CAP_DAC_READ_SEARCH; without it
// (or on a kernel that refuses the handle) the lookup walks the tree for the
// directory whose inode number is the id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace diskidle {

class CgroupIdLookup {
 public:
  enum class Method { kFileHandle, kDirectoryWalk };

  // Opens the mount; `method` is kFileHandle when the handle works on the
  // mount's own root, else kDirectoryWalk, unless `force_walk`.
  static absl::StatusOr<std::unique_ptr<CgroupIdLookup>> Create(const std::string& mount_point,
                                                                bool force_walk = false);
  ~CgroupIdLookup();
  CgroupIdLookup(const CgroupIdLookup&) = delete;
  CgroupIdLookup& operator=(const CgroupIdLookup&) = delete;

  // The cgroup's path relative to the mount point ("/" for its root,
  // "/a/b" below). NotFound when no cgroup has the id (any more).
  absl::StatusOr<std::string> PathOf(uint64_t cgroup_id) const;

  Method method() const { return method_; }

 private:
  CgroupIdLookup(int mount_fd, std::string mount_point, Method method)
      : mount_fd_(mount_fd), mount_point_(std::move(mount_point)), method_(method) {}

  absl::StatusOr<std::string> PathByHandle(uint64_t cgroup_id) const;
  absl::StatusOr<std::string> PathByWalk(uint64_t cgroup_id) const;

  int mount_fd_;
  std::string mount_point_;  // as the kernel spells it in /proc/self/fd links
  Method method_;
};

}  // namespace diskidle
