// Stacks in folded form, one line per distinct stack: frames from the root
// down, joined by ';', a space, the count ("python3;fsync;...;submit_bio 42").
// flamegraph.pl, inferno, speedscope and d3-flame-graph's converters read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace diskidle {

struct FoldedStack {
  std::vector<std::string> frames;  // root first
  uint64_t count = 0;
};

// Equal stacks are merged (their counts added), lines are sorted, stacks with
// a count of 0 are left out. ';' and line breaks inside a frame name, which
// would change the stack's shape, become ':' and ' '.
std::string RenderFolded(const std::vector<FoldedStack>& stacks);

}  // namespace diskidle
