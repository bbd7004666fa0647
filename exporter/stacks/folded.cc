#include "stacks/folded.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

void AppendFrame(std::string& line, const std::string& frame) {
  for (char c : frame) {
    if (c == ';') {
      line += ':';
    } else if (c == '\n' || c == '\r') {
      line += ' ';
    } else {
      line += c;
    }
  }
}

}  // namespace

std::string RenderFolded(const std::vector<FoldedStack>& stacks) {
  std::map<std::string, uint64_t> lines;
  for (const FoldedStack& stack : stacks) {
    if (stack.count == 0) continue;
    std::string line;
    for (size_t i = 0; i < stack.frames.size(); ++i) {
      if (i > 0) line += ';';
      AppendFrame(line, stack.frames[i]);
    }
    lines[line] += stack.count;
  }
  std::string out;
  for (const auto& [line, count] : lines) absl::StrAppend(&out, line, " ", count, "\n");
  return out;
}

}  // namespace diskidle
