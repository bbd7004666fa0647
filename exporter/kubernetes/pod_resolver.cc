#include "kubernetes/pod_resolver.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kubernetes/cgroup_mount.h"
#include "kubernetes/cgroup_path.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

// The fix when `path` (a node's /sys/fs/cgroup, or a mount of it) is not
// cgroup2. Hybrid nodes (cgroup v1 at /sys/fs/cgroup) have their cgroup2 tree
// at /sys/fs/cgroup/unified; pure v1 nodes have none, so no pod labels
// (docs/kubernetes.md, "Hybrid and cgroup v1 nodes").
std::string MountFix(const std::string& path) {
  return absl::StrCat("set kubernetes.cgroup2_mount to the cgroup2 mount (on hybrid nodes ",
                      absl::StripSuffix(path, "/"), "/unified); on a cgroup v1 node, drop "
                      "namespace, pod and container from collectors.bio.labels and process_labels");
}

// The cgroup2 mount to use and the hierarchy path at its mount point.
absl::StatusOr<Cgroup2Mount> ChooseMount(const std::string& configured) {
  absl::StatusOr<std::string> mountinfo = ReadFileToString("/proc/self/mountinfo");
  if (configured.empty()) {
    if (!mountinfo.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot find the cgroup2 mount: ", mountinfo.status().message()));
    }
    absl::StatusOr<Cgroup2Mount> mount = FindCgroup2Mount(*mountinfo);
    if (!mount.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no cgroup2 mount in /proc/self/mountinfo: ", MountFix("/sys/fs/cgroup")));
    }
    return mount;
  }
  // A configured path is checked by statfs in CgroupIdLookup; mountinfo only
  // adds which subtree it shows, when it lists the path as given.
  Cgroup2Mount mount{configured, "/"};
  if (mountinfo.ok()) {
    absl::StatusOr<Cgroup2Mount> listed = FindCgroup2MountAt(*mountinfo, configured);
    if (listed.ok()) mount.root = listed->root;
  }
  return mount;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PodResolver>> PodResolver::Create(PodResolverOptions options) {
  absl::StatusOr<Cgroup2Mount> mount = ChooseMount(options.cgroup2_mount);
  if (!mount.ok()) return mount.status();
  absl::StatusOr<std::unique_ptr<CgroupIdLookup>> lookup =
      CgroupIdLookup::Create(mount->mount_point);
  if (!lookup.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("no cgroup2 mount at ", mount->mount_point,
                                                      " (", lookup.status().message(),
                                                      "): ", MountFix(mount->mount_point)));
  }
  std::string root = mount->root == "/" ? std::string() : mount->root;
  return std::unique_ptr<PodResolver>(new PodResolver(
      *std::move(lookup), std::move(root),
      RuntimeStateDirs{std::move(options.containerd_state_dir), std::move(options.crio_state_dir)},
      options.cache_entries));
}

PodLabels PodResolver::Resolve(uint64_t cgroup_id) {
  {
    absl::MutexLock lock(&mu_);
    if (const PodLabels* cached = cache_.Get(cgroup_id)) return *cached;
  }
  // The filesystem is read outside the lock so one slow first sight does not
  // hold up ids already cached. Two threads may both look an id up; the first
  // insert wins and only it counts a miss.
  bool miss = false;
  PodLabels labels = Lookup(cgroup_id, miss);
  absl::MutexLock lock(&mu_);
  auto [held, inserted] = cache_.Insert(cgroup_id, std::move(labels));
  if (inserted && miss) misses_.fetch_add(1, std::memory_order_relaxed);
  return *held;
}

uint64_t PodResolver::misses() const { return misses_.load(std::memory_order_relaxed); }

PodLabels PodResolver::Lookup(uint64_t cgroup_id, bool& miss) const {
  absl::StatusOr<std::string> path = lookup_->PathOf(cgroup_id);
  if (!path.ok()) {
    miss = true;
    return {};
  }
  CgroupRef ref = ParseCgroupPath(absl::StrCat(mount_root_, *path));
  // A host process, a pod-level cgroup or CRI-O's conmon: no container to name.
  if (ref.container_id.empty()) return {};
  absl::StatusOr<PodLabels> labels = ReadContainerLabels(dirs_, ref);
  if (!labels.ok()) {
    miss = true;
    return {};
  }
  return *labels;
}

}  // namespace diskidle
