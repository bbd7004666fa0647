#include "kubernetes/cgroup_mount.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kubernetes/split.h"

namespace diskidle {
namespace {

// mountinfo writes space, tab, newline and backslash in paths as \ooo octal.
std::string Unescape(std::string_view field) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && octal(field[i + 1]) && octal(field[i + 2]) &&
        octal(field[i + 3])) {
      out.push_back(static_cast<char>(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) |
                                      (field[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

// One cgroup2 line's root and mount point, or nothing for any other line.
// Format: id parent major:minor root mount-point options [optional...] - fstype source
// super-options
std::optional<Cgroup2Mount> ParseLine(std::string_view line) {
  std::vector<std::string_view> fields = SplitNonEmpty(line, ' ');
  if (fields.size() < 7) return std::nullopt;
  size_t separator = 6;
  while (separator < fields.size() && fields[separator] != "-") ++separator;
  if (separator + 1 >= fields.size() || fields[separator + 1] != "cgroup2") return std::nullopt;
  return Cgroup2Mount{Unescape(fields[4]), Unescape(fields[3])};
}

std::vector<Cgroup2Mount> AllCgroup2Mounts(std::string_view mountinfo_text) {
  std::vector<Cgroup2Mount> mounts;
  for (std::string_view line : SplitNonEmpty(mountinfo_text, '\n')) {
    if (std::optional<Cgroup2Mount> mount = ParseLine(line)) mounts.push_back(std::move(*mount));
  }
  return mounts;
}

}  // namespace

absl::StatusOr<Cgroup2Mount> FindCgroup2Mount(std::string_view mountinfo_text) {
  std::vector<Cgroup2Mount> mounts = AllCgroup2Mounts(mountinfo_text);
  if (mounts.empty()) return absl::NotFoundError("no cgroup2 mount in mountinfo");
  for (const Cgroup2Mount& mount : mounts) {
    if (mount.root == "/") return mount;
  }
  return mounts.front();
}

absl::StatusOr<Cgroup2Mount> FindCgroup2MountAt(std::string_view mountinfo_text,
                                                std::string_view mount_point) {
  // The last entry at a mount point is the one on top, the one a path resolves
  // to; if that is not cgroup2, an older cgroup2 mount beneath it is hidden.
  std::optional<Cgroup2Mount> top;
  for (std::string_view line : SplitNonEmpty(mountinfo_text, '\n')) {
    std::vector<std::string_view> fields = SplitNonEmpty(line, ' ');
    if (fields.size() < 5 || Unescape(fields[4]) != mount_point) continue;
    top = ParseLine(line);
  }
  if (!top)
    return absl::NotFoundError(absl::StrCat("no cgroup2 mount at ", std::string(mount_point)));
  return *top;
}

}  // namespace diskidle
