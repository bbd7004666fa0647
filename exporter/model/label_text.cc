#include "model/label_text.h"

#include <cstdint>

namespace diskidle {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if the bytes
// there are not one (truncated, overlong, a surrogate, above U+10FFFF), by
// the table of Unicode 15 section 3.9 (the rules Go's utf8.ValidString and so
// Prometheus apply).
size_t ValidSequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  const uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t length;
  uint8_t low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 == 0xe0) low = 0xa0;   // overlong
    if (b0 == 0xed) high = 0x9f;  // UTF-16 surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 == 0xf0) low = 0x90;   // overlong
    if (b0 == 0xf4) high = 0x8f;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, 0xc0/0xc1 or 0xf5..0xff
  }
  if (i + length > text.size()) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xbf) return 0;
  }
  return length;
}

void AppendEscaped(std::string& out, uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xf];
}

std::string Sanitize(std::string_view raw, bool double_backslash) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    const size_t length = ValidSequenceLength(raw, i);
    const uint8_t b = static_cast<uint8_t>(raw[i]);
    if (length == 0 || b < 0x20 || b == 0x7f) {
      AppendEscaped(out, b);
      ++i;
      continue;
    }
    if (b == '\\' && double_backslash) out += '\\';
    out.append(raw.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace

std::string SanitizeLabelValue(std::string_view raw) { return Sanitize(raw, true); }

std::string SanitizeText(std::string_view raw) { return Sanitize(raw, false); }

}  // namespace diskidle
