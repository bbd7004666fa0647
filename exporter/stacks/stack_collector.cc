#include "stacks/stack_collector.h"

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

// How often a running collection looks for new processes, to read their
// memory maps while they live (a short-lived process is otherwise gone when
// its stacks are symbolized).
constexpr absl::Duration kCapturePeriod = absl::Seconds(1);

// Frames of `ips` (leaf first) appended root first.
template <typename NameFn>
void AppendFrames(const std::vector<uint64_t>& ips, bool leaf_is_exact, NameFn name,
                  std::vector<std::string>& frames) {
  for (size_t i = ips.size(); i-- > 0;) {
    // Every address but an exact leaf is a return address: the call sits just
    // before it, and at the end of a function the return address is already
    // the next function. Looking up address - 1 names the caller correctly.
    const bool exact = leaf_is_exact && i == 0;
    frames.push_back(name(exact ? ips[i] : ips[i] - 1));
  }
}

// The kernel stack is taken inside the tracepoint: its leaf frames are the
// tracepoint's own machinery and our program (__traceiter_block_bio_queue,
// bpf_trace_run1, bpf_prog_..._stack_bio_queue_btf), which every stack
// shares and nobody asked about. Cut from the tracepoint's entry down, so the
// leaf is the function that submitted the bio. How many frames that is varies
// by kernel and attach mode, hence by name, not by count.
void DropTracingFrames(std::vector<std::string>& frames, size_t first_kernel) {
  for (size_t i = first_kernel; i < frames.size(); ++i) {
    const std::string& f = frames[i];
    if (f == "__traceiter_block_bio_queue" || f == "__bpf_trace_block_bio_queue" ||
        f == "trace_block_bio_queue") {
      frames.resize(i);
      return;
    }
  }
}

// A scope that holds the one collection slot.
class Slot {
 public:
  explicit Slot(std::atomic<bool>& busy) : busy_(busy) {}
  ~Slot() { busy_.store(false); }

 private:
  std::atomic<bool>& busy_;
};

}  // namespace

std::vector<FoldedStack> SymbolizeStacks(const StackCounts& counts, const KernelSymbols& kernel,
                                         UserSymbolizer& user) {
  std::vector<FoldedStack> stacks;
  auto kernel_name = [&kernel](uint64_t ip) {
    if (auto name = kernel.Name(ip)) return std::string(*name);
    return absl::StrCat("[kernel]+0x", absl::Hex(ip));
  };
  for (const StackSample& sample : counts.samples) {
    FoldedStack stack;
    stack.count = sample.count;
    stack.frames.push_back(sample.comm.empty() ? "[unknown]" : sample.comm);
    if (sample.user_error == -EFAULT) {
      // No user stack: a kernel thread (writeback, jbd2), or a task with no
      // user registers to start from.
    } else if (sample.user_error != 0) {
      stack.frames.push_back("[user stack lost]");
    } else {
      // The leaf of a user stack is the exact instruction pointer at kernel
      // entry (the syscall instruction), not a return address.
      AppendFrames(
          sample.user_ips, /*leaf_is_exact=*/true,
          [&](uint64_t ip) { return user.Name(sample.tgid, ip); }, stack.frames);
    }
    if (sample.kernel_error != 0) {
      stack.frames.push_back("[kernel stack lost]");
    } else {
      const size_t first_kernel = stack.frames.size();
      AppendFrames(sample.kernel_ips, /*leaf_is_exact=*/false, kernel_name, stack.frames);
      DropTracingFrames(stack.frames, first_kernel);
    }
    stacks.push_back(std::move(stack));
  }
  if (counts.uncounted_bios > 0) {
    stacks.push_back({{"[stack count map full]"}, counts.uncounted_bios});
  }
  return stacks;
}

void StackCollector::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

bool StackCollector::WaitUntil(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock,
               absl::ToChronoNanoseconds(std::max(deadline - absl::Now(), absl::ZeroDuration())),
               [this] { return shutdown_; });
  return !shutdown_;
}

absl::StatusOr<uint32_t> StackCollector::DeviceNumber(const std::string& name) const {
  absl::StatusOr<std::string> text =
      ReadFileToString(absl::StrCat(options_.sysfs, "/block/", name, "/dev"));
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device: no disk named \"", name, "\" (see /sys/block)"));
  }
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(*text), ':');
  uint32_t major = 0, minor = 0;
  if (!absl::SimpleAtoi(parts.first, &major) || !absl::SimpleAtoi(parts.second, &minor)) {
    return absl::InternalError(absl::StrCat("unreadable device number of ", name));
  }
  return major << 20 | minor;  // the kernel's dev_t encoding, as the program compares
}

absl::StatusOr<StackResult> StackCollector::Collect(const StackQuery& query) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return absl::CancelledError("the exporter is shutting down");
  }
  if (busy_.exchange(true)) {
    return absl::ResourceExhaustedError(
        "a stack collection is already running; one runs at a time");
  }
  Slot slot(busy_);

  StackProgramOptions program_options;
  program_options.attach = options_.attach;
  program_options.btf_path = options_.sysfs + "/kernel/btf/vmlinux";
  program_options.filter.tgid = query.pid;
  program_options.filter.comm = query.comm;
  program_options.filter.op = query.op;
  if (!query.device.empty()) {
    absl::StatusOr<uint32_t> dev = DeviceNumber(query.device);
    if (!dev.ok()) return dev.status();
    program_options.filter.dev = *dev;
  }
  SymbolizerPaths paths = options_.symbolizer;
  paths.procfs = options_.procfs;
  UserSymbolizer user(paths);
  if (query.pid != 0 && !user.Capture(query.pid)) {
    return absl::InvalidArgumentError(absl::StrCat("pid: no process ", query.pid));
  }

  absl::StatusOr<std::unique_ptr<StackProgram>> program = StackProgram::Start(program_options);
  if (!program.ok()) return program.status();
  const absl::Time end = absl::Now() + query.duration;
  std::set<uint32_t> seen = {query.pid};
  bool completed = true;
  while (absl::Now() < end) {
    completed = WaitUntil(std::min(end, absl::Now() + kCapturePeriod));
    if (!completed) break;
    for (uint32_t tgid : (*program)->Processes()) {
      if (seen.insert(tgid).second) user.Capture(tgid);
    }
  }
  (*program)->Detach();
  if (!completed) return absl::CancelledError("the exporter is shutting down");
  absl::StatusOr<StackCounts> counts = (*program)->Read();
  if (!counts.ok()) return counts.status();
  const AttachMode mode = (*program)->attach_mode();
  program->reset();  // out of the kernel before the (slower) symbolization
  // Once more at the end, for libraries loaded during the collection.
  for (const StackSample& sample : counts->samples) {
    if (sample.tgid != 0) seen.insert(sample.tgid);
  }
  for (uint32_t tgid : seen) {
    if (tgid != 0) user.Capture(tgid);
  }
  absl::StatusOr<std::string> kallsyms = ReadFileToString(options_.procfs + "/kallsyms");
  KernelSymbols kernel = KernelSymbols::Parse(kallsyms.ok() ? *kallsyms : "");

  StackResult result;
  result.folded = RenderFolded(SymbolizeStacks(*counts, kernel, user));
  result.matched_bios = counts->matched_bios;
  result.attach_mode = mode;
  return result;
}

}  // namespace diskidle
