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
// U+007F) and the backslash; each byte of an invalid sequence and each
// control character becomes the four characters `\xHH` (lower-case hex), and
// a backslash becomes two. The result is always valid UTF-8 and free of
// control characters, and two different names never give the same value
// (without the doubled backslash, a name holding the four characters `\xff`
// and one holding the byte 0xff would be one series). Examples: "java" ->
// "java", "a\nb" -> "a\x0ab", "\xd0\xbf\xd1" (Cyrillic cut mid-character) ->
// "п\xd1", "C:\x" -> "C:\\x".
std::string SanitizeLabelValue(std::string_view raw);

// The same for free text (log messages), except that a backslash stays one:
// a line only has to be valid UTF-8 on one line, not tell names apart.
std::string SanitizeText(std::string_view raw);

}  // namespace diskidle
