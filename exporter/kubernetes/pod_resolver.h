// Maps a cgroup v2 id to the Kubernetes namespace, pod and container of the
// processes in that cgroup, from the node's own state: the cgroup path gives
// the container id and pod UID (cgroup_path.h), the container runtime's state
// file gives the names (runtime_state.h). docs/kubernetes.md says which layouts.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kubernetes/cgroup_id_lookup.h"
#include "kubernetes/lru_cache.h"
#include "kubernetes/pod_labels.h"
#include "kubernetes/runtime_state.h"

namespace diskidle {

struct PodResolverOptions {
  std::string cgroup2_mount;  // "" = find the cgroup2 mount in /proc/self/mountinfo
  std::string containerd_state_dir = "/run/containerd/io.containerd.runtime.v2.task/k8s.io";
  std::string crio_state_dir = "/run/containers/storage/overlay-containers";
  size_t cache_entries = 4096;  // LRU of resolved ids
};

class PodResolver {
 public:
  // Fails (one-line error naming the fix) only if no cgroup2 mount exists.
  static absl::StatusOr<std::unique_ptr<PodResolver>> Create(PodResolverOptions options);

  // Thread-safe. First sight of an id reads the filesystem (no network, no
  // blocking waits); later calls are served from the LRU.
  PodLabels Resolve(uint64_t cgroup_id);

  // Ids that could not be mapped: cgroup gone before first sight, or a
  // container cgroup whose runtime state file is missing/unreadable.
  uint64_t misses() const;

  // How ids become paths here (file handles, or the walk without
  // CAP_DAC_READ_SEARCH); for the start-up log line.
  CgroupIdLookup::Method lookup_method() const { return lookup_->method(); }

 private:
  PodResolver(std::unique_ptr<CgroupIdLookup> lookup, std::string mount_root, RuntimeStateDirs dirs,
              size_t cache_entries)
      : lookup_(std::move(lookup)),
        mount_root_(std::move(mount_root)),
        dirs_(std::move(dirs)),
        cache_(cache_entries) {}

  // Labels for an id not in the cache; `miss` says it could not be mapped.
  PodLabels Lookup(uint64_t cgroup_id, bool& miss) const;

  const std::unique_ptr<CgroupIdLookup> lookup_;
  const std::string mount_root_;  // the hierarchy path at the mount point (cgroup_mount.h)
  const RuntimeStateDirs dirs_;
  absl::Mutex mu_;
  LruCache<uint64_t, PodLabels> cache_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> misses_{0};
};

}  // namespace diskidle
