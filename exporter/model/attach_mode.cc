#include "model/attach_mode.h"

namespace diskidle {

const char* AttachModeName(AttachMode mode) {
  switch (mode) {
    case AttachMode::kAuto:
      return "auto";
    case AttachMode::kTpBtf:
      return "tp_btf";
    case AttachMode::kRawTp:
      return "raw_tp";
  }
  return "auto";
}

std::optional<AttachMode> ParseAttachMode(std::string_view name) {
  for (AttachMode mode : {AttachMode::kAuto, AttachMode::kTpBtf, AttachMode::kRawTp}) {
    if (std::string_view(AttachModeName(mode)) == name) return mode;
  }
  return std::nullopt;
}

const char* SyscallAttachModeName(SyscallAttachMode mode) {
  switch (mode) {
    case SyscallAttachMode::kAuto:
      return "auto";
    case SyscallAttachMode::kFentry:
      return "fentry";
    case SyscallAttachMode::kTracepoint:
      return "tracepoint";
  }
  return "auto";
}

}  // namespace diskidle
