#include "kubernetes/runtime_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "config/yaml_fields.h"

namespace diskidle {
namespace {

// A config.json is a few KiB to a few hundred (env, mounts, seccomp profile);
// anything far larger is not one, and reading it whole would cost memory.
constexpr off_t kMaxConfigBytes = 16 << 20;

struct AnnotationKeys {
  const char* namespace_name;
  const char* pod;
  const char* container;
  const char* container_type;  // whose value "sandbox" marks the pause container
};

constexpr AnnotationKeys kContainerdKeys = {
    "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name",
    "io.kubernetes.cri.container-name", "io.kubernetes.cri.container-type"};
constexpr AnnotationKeys kCrioKeys = {"io.kubernetes.pod.namespace", "io.kubernetes.pod.name",
                                      "io.kubernetes.container.name",
                                      "io.kubernetes.cri-o.ContainerType"};

// The value of 4 hex digits at text[at], or -1.
int Hex4(std::string_view text, size_t at) {
  if (at + 4 > text.size()) return -1;
  int value = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const char c = text[i];
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// JSON writes a character beyond the 16-bit range as a UTF-16 surrogate pair
// (\ud83d\ude00); YAML has \U for it and rejects surrogates, so yaml-cpp would
// fail the whole file (an emoji anywhere in a container's env). Pairs become
// \UXXXXXXXX, lone surrogates (invalid in JSON's own terms) U+FFFD. Only
// escapes are touched: a backslash outside a string is not JSON.
std::string SurrogatesToYaml(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\' || i + 1 >= json.size()) {
      out += json[i];
      continue;
    }
    const int unit = json[i + 1] == 'u' ? Hex4(json, i + 2) : -1;
    if (unit < 0xd800 || unit > 0xdfff) {  // another escape (or not a \u one)
      out.append(json.substr(i, 2));
      ++i;
      continue;
    }
    // The low half, if a \u escape follows: 12 characters in all.
    const int low = unit <= 0xdbff && i + 11 < json.size() && json[i + 6] == '\\' &&
                            json[i + 7] == 'u'
                        ? Hex4(json, i + 8)
                        : -1;
    if (low >= 0xdc00 && low <= 0xdfff) {
      const int code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
      out += absl::StrFormat("\\U%08X", code);
      i += 11;
    } else {
      out += "\\uFFFD";
      i += 5;
    }
  }
  return out;
}

// JSON is YAML flow syntax, and yaml-cpp is already here for the config. The
// config loader's FieldReader bounds yaml-cpp's known endless loops on
// malformed input and turns its exceptions into a status.
absl::StatusOr<PodLabels> ParseConfig(std::string_view json, const AnnotationKeys& keys) {
  yaml::FieldReader reader("config.json");
  absl::StatusOr<yaml::Field> root = reader.Load(SurrogatesToYaml(json));
  if (!root.ok()) return root.status();
  try {
    if (!root->value.IsMap()) return absl::InvalidArgumentError("config.json: not a JSON object");
    YAML::Node annotations = root->value["annotations"];
    if (!annotations.IsMap()) return absl::NotFoundError("config.json: no annotations");
    auto text = [&](const char* key) -> std::string {
      YAML::Node value = annotations[key];
      return value.IsScalar() ? value.Scalar() : std::string();
    };
    PodLabels labels{text(keys.namespace_name), text(keys.pod), text(keys.container)};
    if (labels.container.empty() && text(keys.container_type) == "sandbox") {
      labels.container = kSandboxContainerName;
    }
    std::vector<const char*> missing;
    if (labels.namespace_name.empty()) missing.push_back(keys.namespace_name);
    if (labels.pod.empty()) missing.push_back(keys.pod);
    if (labels.container.empty()) missing.push_back(keys.container);
    if (!missing.empty()) {
      return absl::NotFoundError(
          absl::StrCat("config.json: no annotation ", absl::StrJoin(missing, ", ")));
    }
    return labels;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", e.what()));
  }
}

absl::StatusOr<std::string> ReadBounded(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxConfigBytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file of at most ", kMaxConfigBytes, " bytes"));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t have = 0;
  while (have < out.size()) {
    ssize_t n = read(fd, out.data() + have, out.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("read ", path));
    }
    if (n == 0) break;  // shrank while reading: parse what is there
    have += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(have);
  return out;
}

absl::StatusOr<PodLabels> ReadConfig(const std::string& path, const AnnotationKeys& keys) {
  absl::StatusOr<std::string> text = ReadBounded(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<PodLabels> labels = ParseConfig(*text, keys);
  if (!labels.ok()) {
    return absl::Status(labels.status().code(),
                        absl::StrCat(path, ": ", labels.status().message()));
  }
  return labels;
}

}  // namespace

absl::StatusOr<PodLabels> ParseContainerdConfig(std::string_view json) {
  return ParseConfig(json, kContainerdKeys);
}

absl::StatusOr<PodLabels> ParseCrioConfig(std::string_view json) {
  return ParseConfig(json, kCrioKeys);
}

absl::StatusOr<PodLabels> ReadContainerLabels(const RuntimeStateDirs& dirs, const CgroupRef& ref) {
  if (ref.container_id.empty()) return absl::InvalidArgumentError("not a container cgroup");
  // container_id is 64 hex digits (cgroup_path.cc), so it cannot leave the directory.
  auto containerd = [&] {
    return ReadConfig(absl::StrCat(dirs.containerd, "/", ref.container_id, "/config.json"),
                      kContainerdKeys);
  };
  auto crio = [&] {
    return ReadConfig(absl::StrCat(dirs.crio, "/", ref.container_id, "/userdata/config.json"),
                      kCrioKeys);
  };
  switch (ref.runtime) {
    case ContainerRuntime::kContainerd:
      return containerd();
    case ContainerRuntime::kCrio:
      return crio();
    default: {
      absl::StatusOr<PodLabels> labels = containerd();
      if (labels.ok()) return labels;
      absl::StatusOr<PodLabels> second = crio();
      if (second.ok()) return second;
      return absl::NotFoundError(
          absl::StrCat(labels.status().message(), "; ", second.status().message()));
    }
  }
}

}  // namespace diskidle
