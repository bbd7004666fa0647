// Loads stack_trace.bpf.c for one /debug/stacks collection: open, set the
// filter, load, attach; later detach and read the stacks it counted. The
// program exists in the kernel only while this object does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/attach_mode.h"

struct stack_trace;  // generated skeleton

namespace diskidle {

// Which bios to collect; every field set must match.
struct StackFilter {
  uint32_t tgid = 0;          // 0: any process
  std::string comm;           // "": any (group leader's comm, <= 15 chars)
  uint32_t dev = 0;           // whole disk, major << 20 | minor; 0: any
  std::optional<uint8_t> op;  // enum diskidle_op; nullopt: any
};

struct StackProgramOptions {
  AttachMode attach = AttachMode::kAuto;
  std::string btf_path;  // e.g. /sys/kernel/btf/vmlinux
  StackFilter filter;
  uint32_t stack_map_entries = 8192;   // distinct stacks (~1 KiB each)
  uint32_t count_map_entries = 16384;  // distinct (process, kernel, user) stacks
};

// One distinct stack pair and how many bios came through it. Addresses are
// leaf first, as the kernel records them. An error is the negative errno of
// bpf_get_stackid() when that stack could not be taken (then no addresses).
struct StackSample {
  uint32_t tgid = 0;
  std::string comm;
  std::vector<uint64_t> kernel_ips;
  int kernel_error = 0;
  std::vector<uint64_t> user_ips;
  int user_error = 0;
  uint64_t count = 0;
};

struct StackCounts {
  std::vector<StackSample> samples;
  uint64_t matched_bios = 0;    // every bio that matched the filter
  uint64_t uncounted_bios = 0;  // of those, not in `samples` (count map full)
};

class StackProgram {
 public:
  static absl::StatusOr<std::unique_ptr<StackProgram>> Start(const StackProgramOptions& options);
  ~StackProgram();
  StackProgram(const StackProgram&) = delete;
  StackProgram& operator=(const StackProgram&) = delete;

  // Stops counting (idempotent): the counts are final afterwards.
  void Detach();
  // The processes seen so far (to capture their memory maps while alive).
  std::set<uint32_t> Processes() const;
  // Everything counted. Call after Detach() for a consistent total.
  absl::StatusOr<StackCounts> Read() const;

  AttachMode attach_mode() const { return attach_mode_; }

 private:
  StackProgram() = default;
  struct SkeletonDeleter {
    void operator()(stack_trace* skel) const;
  };
  std::unique_ptr<stack_trace, SkeletonDeleter> skel_;
  AttachMode attach_mode_ = AttachMode::kAuto;
  int num_cpus_ = 0;
};

}  // namespace diskidle
