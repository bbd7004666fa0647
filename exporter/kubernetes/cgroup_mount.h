// Finding the cgroup v2 mount in /proc/self/mountinfo text (text in, mount out).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

struct Cgroup2Mount {
  // Where the hierarchy is mounted: /sys/fs/cgroup (pure v2) or
  // /sys/fs/cgroup/unified (hybrid, v1 controllers beside a cgroup2 tree).
  std::string mount_point;
  // Which cgroup of the hierarchy the mount shows at its mount point: "/" for
  // the whole tree; a subtree for a bind mount or a mount made inside a cgroup
  // namespace (then relative to that namespace, e.g. "/../.."). Cgroup paths
  // read under the mount point are this root joined with the rest.
  std::string root;
};

// The cgroup2 mount among mountinfo(5) lines. With several (a bind mount
// beside the original), the first one showing the whole tree ("/") wins, else
// the first. NotFound when there is none.
absl::StatusOr<Cgroup2Mount> FindCgroup2Mount(std::string_view mountinfo_text);

// The mount entry at exactly `mount_point` if it is a cgroup2 mount.
absl::StatusOr<Cgroup2Mount> FindCgroup2MountAt(std::string_view mountinfo_text,
                                                std::string_view mount_point);

}  // namespace diskidle
