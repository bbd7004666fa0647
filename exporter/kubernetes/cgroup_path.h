// Reading a container id and pod UID out of a cgroup v2 path (text in, struct
// out). The path is all the kernel gives for a cgroup id; the names come later
// from the runtime's state files (runtime_state.h).
#pragma once

#include <string>
#include <string_view>

namespace diskidle {

enum class ContainerRuntime {
  kNone,        // not a container
  kContainerd,  // cri-containerd-<id>.scope
  kCrio,        // crio-<id>.scope, crio-<id>
  kDocker,      // docker-<id>.scope, /docker/<id>
  kAmbiguous,   // a bare <id> (cgroupfs driver): containerd or Docker
};

struct CgroupRef {
  ContainerRuntime runtime = ContainerRuntime::kNone;
  std::string container_id;  // 64 lowercase hex; empty: not a container
  std::string pod_uid;       // as the API shows it (dashes); empty: not in a pod
  std::string qos;           // "guaranteed", "burstable", "besteffort"; empty: not in a pod
  // CRI-O's container monitor (crio-conmon-<id>.scope): a host helper beside
  // the container, not the container, so container_id stays empty.
  bool conmon = false;

  bool operator==(const CgroupRef&) const = default;
};

// Parses the kubelet layouts (systemd and cgroupfs drivers, every QoS class)
// and the runtimes' container cgroups (containerd, CRI-O, Docker). The path may
// start anywhere (a cgroup namespace shows "/../.." or nothing above the pod):
// segments are matched by their own shape, not by depth. The container is the
// first container segment below the innermost pod; cgroups a container makes
// below itself (crun's "container", systemd's "init.scope") belong to it.
// Anything else, and malformed ids, give a CgroupRef with no container.
CgroupRef ParseCgroupPath(std::string_view path);

}  // namespace diskidle
