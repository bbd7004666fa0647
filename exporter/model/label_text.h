// Label values that come from the system (process and thread names, device
// names, later cgroup paths) can hold any bytes: a process renames itself
// with prctl(PR_SET_NAME), and the kernel cuts names at 15 bytes, in the
// middle of a UTF-8 character. One invalid byte in one label value makes
// Prometheus reject the whole scrape ("invalid UTF-8 label value"), so every
// such value passes through here once, where it enters the exporter.
#pragma once

#include <string>
#include <string_view>

namespace diskidle {

// Valid UTF-8 stays as it is, except control characters (U+0000-U+001F and
// U+007F); each byte of an invalid sequence and each control character becomes
// the four characters `\xHH` (lower-case hex). The result is always valid
// UTF-8 and free of control characters. Examples: "java" -> "java",
// "a\nb" -> "a\x0ab", "\xd0\xbf\xd1" (Cyrillic cut mid-character) -> "п\xd1".
std::string SanitizeLabelValue(std::string_view raw);

}  // namespace diskidle
