// Splitting std::string_view text: Debian's abseil has its own string_view
// type, which absl::StrSplit and absl::StrCat will not take from std's.
#pragma once

#include <string_view>
#include <vector>

namespace diskidle {

// The non-empty pieces of `text` between `separator`s.
inline std::vector<std::string_view> SplitNonEmpty(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  while (!text.empty()) {
    size_t end = text.find(separator);
    std::string_view piece = text.substr(0, end);
    if (!piece.empty()) pieces.push_back(piece);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return pieces;
}

}  // namespace diskidle
