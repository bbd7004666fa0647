#include "kubernetes/cgroup_path.h"

#include <optional>
#include <vector>

#include "kubernetes/split.h"

namespace diskidle {
namespace {

constexpr size_t kContainerIdLength = 64;

// std::string_view spellings of absl's Consume*: Debian's abseil has its own string_view.
bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

bool ConsumeSuffix(std::string_view* s, std::string_view suffix) {
  if (!s->ends_with(suffix)) return false;
  s->remove_suffix(suffix.size());
  return true;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

bool IsContainerId(std::string_view s) { return s.size() == kContainerIdLength && IsLowerHex(s); }

// A pod UID: a UUID (8-4-4-4-12 hex) for API pods, 32 hex (an md5 of the
// manifest) for static pods. `separator` is '-' in cgroupfs paths and '_' in
// systemd slice names (where '-' means nesting). Returns it with dashes.
std::optional<std::string> PodUid(std::string_view s, char separator) {
  if (s.size() == 32 && IsLowerHex(s)) return std::string(s);
  if (s.size() != 36) return std::nullopt;
  std::string uid(s);
  for (size_t i = 0; i < uid.size(); ++i) {
    bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position) {
      if (uid[i] != separator) return std::nullopt;
      uid[i] = '-';
    } else if (!IsLowerHex(uid.substr(i, 1))) {
      return std::nullopt;
    }
  }
  return uid;
}

struct PodSegment {
  std::string uid;
  std::string qos;
};

std::string QosOfLevel(std::string_view level) {
  if (level == "burstable" || level == "besteffort") return std::string(level);
  return "guaranteed";  // guaranteed pods sit directly under kubepods, no level of their own
}

// systemd driver: kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice,
// kubepods-besteffort-pod<uid>.slice (and a prefix when the kubelet's cgroup
// root is not "/", as kind's kubelet-kubepods-...). cgroupfs driver: pod<uid>,
// under kubepods/, kubepods/burstable/ or kubepods/besteffort/.
std::optional<PodSegment> ParsePodSegment(std::string_view segment, std::string_view parent) {
  if (ConsumeSuffix(&segment, ".slice")) {
    size_t pod = segment.rfind("-pod");
    if (pod == std::string_view::npos) return std::nullopt;
    std::string_view prefix = segment.substr(0, pod);
    if (prefix.find("kubepods") == std::string_view::npos) return std::nullopt;
    std::optional<std::string> uid = PodUid(segment.substr(pod + 4), '_');
    if (!uid) return std::nullopt;
    size_t dash = prefix.rfind('-');
    return PodSegment{*uid, QosOfLevel(dash == std::string_view::npos ? std::string_view()
                                                                      : prefix.substr(dash + 1))};
  }
  if (!ConsumePrefix(&segment, "pod")) return std::nullopt;
  std::optional<std::string> uid = PodUid(segment, '-');
  if (!uid) return std::nullopt;
  return PodSegment{*uid, QosOfLevel(parent)};
}

struct ContainerSegment {
  ContainerRuntime runtime;
  std::string id;
  bool conmon = false;
};

std::optional<ContainerSegment> ParseContainerSegment(std::string_view segment,
                                                      std::string_view parent) {
  // systemd names each container's scope; the cgroupfs forms drop ".scope".
  ConsumeSuffix(&segment, ".scope");
  struct Prefix {
    std::string_view text;
    ContainerRuntime runtime;
    bool conmon;
  };
  // crio-conmon- before crio-: the longer prefix decides.
  static constexpr Prefix kPrefixes[] = {
      {"cri-containerd-", ContainerRuntime::kContainerd, false},
      {"crio-conmon-", ContainerRuntime::kCrio, true},
      {"crio-", ContainerRuntime::kCrio, false},
      {"docker-", ContainerRuntime::kDocker, false},
  };
  for (const Prefix& prefix : kPrefixes) {
    std::string_view rest = segment;
    if (!ConsumePrefix(&rest, prefix.text)) continue;
    if (!IsContainerId(rest)) return std::nullopt;
    return ContainerSegment{prefix.runtime, std::string(rest), prefix.conmon};
  }
  if (!IsContainerId(segment)) return std::nullopt;
  // Docker's own cgroupfs layout is /docker/<id>; under a pod a bare id is
  // what containerd and dockershim both write with the cgroupfs driver.
  return ContainerSegment{
      parent == "docker" ? ContainerRuntime::kDocker : ContainerRuntime::kAmbiguous,
      std::string(segment)};
}

}  // namespace

CgroupRef ParseCgroupPath(std::string_view path) {
  std::vector<std::string_view> segments = SplitNonEmpty(path, '/');
  CgroupRef ref;
  // The innermost pod: a kubelet nested in a container (kind) has its pods
  // below the outer container, and the node's runtime knows only those.
  size_t search_from = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view parent = i > 0 ? segments[i - 1] : std::string_view();
    if (std::optional<PodSegment> pod = ParsePodSegment(segments[i], parent)) {
      ref.pod_uid = std::move(pod->uid);
      ref.qos = std::move(pod->qos);
      search_from = i + 1;
    }
  }
  for (size_t i = search_from; i < segments.size(); ++i) {
    std::string_view parent = i > 0 ? segments[i - 1] : std::string_view();
    std::optional<ContainerSegment> container = ParseContainerSegment(segments[i], parent);
    if (!container) continue;
    ref.runtime = container->runtime;
    ref.conmon = container->conmon;
    if (!container->conmon) ref.container_id = std::move(container->id);
    break;
  }
  return ref;
}

}  // namespace diskidle
