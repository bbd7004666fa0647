// Runs one /debug/stacks collection at a time: loads the stack program with
// the query's filter, waits, detaches it, and turns what it counted into
// symbolized folded stacks. Nothing is in the kernel between collections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/stack_program.h"
#include "stacks/folded.h"
#include "stacks/stack_query.h"
#include "symbolize/kallsyms.h"
#include "symbolize/user_symbolizer.h"

namespace diskidle {

struct StackCollectorOptions {
  std::string procfs = "/proc";
  std::string sysfs = "/sys";
  AttachMode attach = AttachMode::kAuto;
  SymbolizerPaths symbolizer;  // its procfs is taken from `procfs`
};

struct StackResult {
  std::string folded;
  uint64_t matched_bios = 0;  // what the kernel counted; the folded counts add up to it
  AttachMode attach_mode = AttachMode::kAuto;
};

// What was counted, symbolized: kernel frames through `kernel`, user frames
// through `user` (whose processes were captured). Root first: the process
// name, the user frames, then the kernel frames. A stack the kernel could not
// take shows as one "[kernel stack lost]" / "[user stack lost]" frame;
// kernel threads have no user frames. Bios the kernel could not file under a
// stack (its count map full) are one "[stack count map full]" line, so the
// counts always add up to counts.matched_bios.
std::vector<FoldedStack> SymbolizeStacks(const StackCounts& counts, const KernelSymbols& kernel,
                                         UserSymbolizer& user);

class StackCollector {
 public:
  explicit StackCollector(StackCollectorOptions options) : options_(std::move(options)) {}

  // Blocks for the query's duration. ResourceExhausted while another
  // collection runs; InvalidArgument for a pid or device that does not
  // exist; Cancelled when Shutdown() cut it short.
  absl::StatusOr<StackResult> Collect(const StackQuery& query);

  // Ends a running collection at once, and refuses new ones.
  void Shutdown();

 private:
  absl::StatusOr<uint32_t> DeviceNumber(const std::string& name) const;
  // Sleeps until `deadline` or Shutdown(); false when shut down.
  bool WaitUntil(absl::Time deadline);

  const StackCollectorOptions options_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_ = false;  // guarded by mu_
};

}  // namespace diskidle
