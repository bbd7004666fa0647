#include "stacks/stack_query.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "model/bio_labels.h"

namespace diskidle {
namespace {

constexpr int kCommMaxLength = 15;  // TASK_COMM_LEN - 1
constexpr int kOpCount = 6;         // DISKIDLE_OP_COUNT (bpf/bio_stats.h)

absl::Status Bad(absl::string_view reason) { return absl::InvalidArgumentError(reason); }

}  // namespace

absl::StatusOr<StackQuery> ParseStackQuery(
    const std::vector<std::pair<std::string, std::string>>& params) {
  StackQuery query;
  bool has_pid = false, has_comm = false, has_seconds = false, has_device = false;
  for (const auto& [name, value] : params) {
    auto once = [&name = name](bool& seen) {
      if (seen) return Bad(absl::StrCat("parameter ", name, " given twice"));
      seen = true;
      return absl::OkStatus();
    };
    if (name == "pid") {
      if (absl::Status s = once(has_pid); !s.ok()) return s;
      if (!absl::SimpleAtoi(value, &query.pid) || query.pid == 0) {
        return Bad(absl::StrCat("pid: expected a process id, got \"", value, "\""));
      }
    } else if (name == "comm") {
      if (absl::Status s = once(has_comm); !s.ok()) return s;
      if (value.empty() || value.size() > kCommMaxLength) {
        return Bad(absl::StrCat("comm: expected a process name of 1 to ", kCommMaxLength,
                                " characters (as in the comm label)"));
      }
      query.comm = value;
    } else if (name == "device") {
      if (absl::Status s = once(has_device); !s.ok()) return s;
      if (value.empty() || value.find('/') != std::string::npos || value == "." || value == "..") {
        return Bad(
            absl::StrCat("device: expected a disk name such as sda or loop0, got \"", value, "\""));
      }
      query.device = value;
    } else if (name == "op") {
      if (query.op) return Bad("parameter op given twice");
      for (int op = 0; op < kOpCount; ++op) {
        if (OpName(static_cast<uint8_t>(op)) == value) query.op = static_cast<uint8_t>(op);
      }
      if (!query.op) {
        return Bad(
            absl::StrCat("op: expected read, write, flush, discard, write_zeroes or other, got \"",
                         value, "\""));
      }
    } else if (name == "seconds") {
      if (absl::Status s = once(has_seconds); !s.ok()) return s;
      int seconds = 0;
      if (!absl::SimpleAtoi(value, &seconds) || seconds < 1 || seconds > kMaxStackSeconds) {
        return Bad(absl::StrCat("seconds: expected a whole number from 1 to ", kMaxStackSeconds,
                                ", got \"", value, "\""));
      }
      query.duration = absl::Seconds(seconds);
    } else {
      return Bad(absl::StrCat("unknown parameter \"", name,
                              "\" (expected pid or comm, and optionally device, op, seconds)"));
    }
  }
  if (has_pid == has_comm) return Bad("expected exactly one of pid=<pid> and comm=<name>");
  return query;
}

}  // namespace diskidle
