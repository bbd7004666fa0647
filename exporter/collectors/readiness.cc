#include "collectors/readiness.h"

namespace diskidle {

std::string Readiness::Missing() const {
  std::string missing;
  auto add = [&missing](const char* what) {
    if (!missing.empty()) missing += "; ";
    missing += what;
  };
  if (!bpf_attached_.load()) add("BPF program not attached yet");
  if (!diskstats_read_.load()) add("diskstats not read yet");
  return missing;
}

}  // namespace diskidle
