// The Kubernetes names a cgroup id resolves to (pod_resolver.h).
#pragma once

#include <string>

namespace diskidle {

struct PodLabels {  // all empty: a host process, or not resolvable
  std::string namespace_name;
  std::string pod;
  std::string container;

  bool operator==(const PodLabels&) const = default;
};

}  // namespace diskidle
