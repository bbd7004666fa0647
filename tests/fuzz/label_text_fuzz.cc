// libFuzzer target: whatever bytes a process or device name holds, the label
// value made of it is valid UTF-8 without control characters, and decodes
// back to exactly those bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "model/label_text.h"

namespace {

bool IsValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int k = 1; k < n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::string out = diskidle::SanitizeLabelValue(raw);
  if (!IsValidUtf8(out)) abort();
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) abort();
  }
  // Valid text without control characters and backslashes passes unchanged.
  if (IsValidUtf8(std::string(raw)) && raw.find_first_of(std::string_view("\0\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\\", 34)) == std::string_view::npos &&
      out != raw) {
    abort();
  }
  // The value decodes back to the exact bytes ("\\" a backslash, "\xHH" a
  // byte), so no two names share a series.
  std::string decoded;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '\\') {
      decoded += out[i];
    } else if (i + 1 < out.size() && out[i + 1] == '\\') {
      decoded += '\\';
      ++i;
    } else if (i + 3 < out.size() && out[i + 1] == 'x') {
      decoded += static_cast<char>(std::stoi(out.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      abort();
    }
  }
  if (decoded != raw) abort();
  return 0;
}
