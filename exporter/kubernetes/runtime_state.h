// The pod and container names of a container, from its runtime's state on the
// node (the OCI config.json the runtime wrote when it created the container):
// no API server, no network. The annotations read are the ones the kubelet's
// CRI request put there, so they are the names kube-state-metrics shows.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kubernetes/cgroup_path.h"
#include "kubernetes/pod_labels.h"

namespace diskidle {

// The name the kubelet gives the pause (sandbox) container.
inline constexpr char kSandboxContainerName[] = "POD";

// config.json text of a containerd (CRI plugin) container: annotations
// io.kubernetes.cri.sandbox-namespace, sandbox-name, container-name. A sandbox
// (container-type "sandbox") has no container-name and gets "POD".
absl::StatusOr<PodLabels> ParseContainerdConfig(std::string_view json);

// config.json text of a CRI-O container: annotations io.kubernetes.pod.namespace,
// io.kubernetes.pod.name, io.kubernetes.container.name (CRI-O writes "POD" for
// its infra container; a sandbox without a name gets it too).
absl::StatusOr<PodLabels> ParseCrioConfig(std::string_view json);

struct RuntimeStateDirs {
  std::string containerd;  // <dir>/<id>/config.json
  std::string crio;        // <dir>/<id>/userdata/config.json
};

// Reads the labels of the container `ref` names from the state file of its
// runtime; for an ambiguous or Docker id, containerd's then CRI-O's. The error
// names the file(s) tried and why each failed.
absl::StatusOr<PodLabels> ReadContainerLabels(const RuntimeStateDirs& dirs, const CgroupRef& ref);

}  // namespace diskidle
