#include "kubernetes/cgroup_id_lookup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;  // CGROUP2_SUPER_MAGIC, linux/magic.h
constexpr int kFileIdKernfs = 0xfe;              // FILEID_KERNFS, linux/exportfs.h

// A file_handle with room for the kernfs id.
struct KernfsHandle {
  struct file_handle header;
  unsigned char id[8];
};

// The directory walk fallback: the first directory (depth first) whose inode
// number is `id`. kernfs puts the node id in d_ino, so no stat per entry.
bool Walk(int dir_fd, uint64_t id, std::string& path, int depth) {
  // Deeper than any real hierarchy (systemd + kubelet + nested runtimes ~ 10).
  if (depth > 64) return false;
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return false;
  }
  bool found = false;
  while (!found) {
    errno = 0;
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) break;
    if (entry->d_type != DT_DIR || strcmp(entry->d_name, ".") == 0 ||
        strcmp(entry->d_name, "..") == 0) {
      continue;
    }
    size_t length_before = path.size();
    absl::StrAppend(&path, "/", entry->d_name);
    if (static_cast<uint64_t>(entry->d_ino) == id) {
      found = true;
      break;
    }
    int child = openat(dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    // A cgroup removed during the walk is simply not there.
    if (child >= 0 && Walk(child, id, path, depth + 1)) {
      found = true;
      break;
    }
    path.resize(length_before);
  }
  closedir(dir);
  return found;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CgroupIdLookup>> CgroupIdLookup::Create(
    const std::string& mount_point, bool force_walk) {
  // /proc/self/fd links spell the path without symlinks or trailing slashes.
  char resolved[PATH_MAX];
  if (realpath(mount_point.c_str(), resolved) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cgroup2 mount ", mount_point));
  }
  int fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open cgroup2 mount ", resolved));
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0 || fs.f_type != kCgroup2SuperMagic) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(resolved, " is not a cgroup2 mount"));
  }
  std::string point = resolved;
  if (point == "/") point.clear();  // so that point + "/a" is "/a"
  std::unique_ptr<CgroupIdLookup> lookup(
      new CgroupIdLookup(fd, std::move(point), Method::kDirectoryWalk));
  if (!force_walk) {
    struct stat root;
    if (fstat(fd, &root) == 0 && lookup->PathByHandle(root.st_ino).ok()) {
      lookup->method_ = Method::kFileHandle;
    }
  }
  return lookup;
}

CgroupIdLookup::~CgroupIdLookup() { close(mount_fd_); }

absl::StatusOr<std::string> CgroupIdLookup::PathOf(uint64_t cgroup_id) const {
  if (method_ == Method::kFileHandle) {
    absl::StatusOr<std::string> path = PathByHandle(cgroup_id);
    // NotFound is the answer; anything else (a handle refused for this one id) walks.
    if (path.ok() || absl::IsNotFound(path.status())) return path;
  }
  return PathByWalk(cgroup_id);
}

absl::StatusOr<std::string> CgroupIdLookup::PathByHandle(uint64_t cgroup_id) const {
  KernfsHandle handle;
  handle.header.handle_bytes = sizeof(handle.id);
  handle.header.handle_type = kFileIdKernfs;
  memcpy(handle.id, &cgroup_id, sizeof(handle.id));
  int fd = open_by_handle_at(mount_fd_, &handle.header, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    // ESTALE: no kernfs node with this id (removed, or never a cgroup);
    // ENOTDIR: the id names a file of the tree, not a cgroup.
    if (err == ESTALE || err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("no cgroup with id ", cgroup_id));
    }
    return absl::ErrnoToStatus(err, "open_by_handle_at on the cgroup2 mount");
  }
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char target[PATH_MAX + 1];
  ssize_t n = readlink(link, target, PATH_MAX);
  int err = errno;
  close(fd);
  if (n < 0) return absl::ErrnoToStatus(err, absl::StrCat("readlink ", link));
  std::string_view path(target, static_cast<size_t>(n));
  // Removed between open and readlink.
  if (path.ends_with(" (deleted)")) {
    return absl::NotFoundError(absl::StrCat("no cgroup with id ", cgroup_id));
  }
  if (!path.starts_with(mount_point_) ||
      (path.size() > mount_point_.size() && path[mount_point_.size()] != '/')) {
    // A handle decoded outside our view of the mount (another mount of the tree).
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup ", cgroup_id, " resolved outside ", mount_point_));
  }
  path.remove_prefix(mount_point_.size());
  return path.empty() ? std::string("/") : std::string(path);
}

absl::StatusOr<std::string> CgroupIdLookup::PathByWalk(uint64_t cgroup_id) const {
  struct stat root;
  if (fstat(mount_fd_, &root) == 0 && root.st_ino == cgroup_id) return std::string("/");
  int fd = openat(mount_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open cgroup2 mount");
  std::string path;
  if (!Walk(fd, cgroup_id, path, 0)) {
    return absl::NotFoundError(absl::StrCat("no cgroup with id ", cgroup_id));
  }
  return path;
}

}  // namespace diskidle
