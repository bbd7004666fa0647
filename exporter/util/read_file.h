#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace diskidle {

// The most ReadFileToString() reads by default: far above any file the
// exporter reads (a config file, /proc/diskstats, a process's maps), far
// below what would hurt if a path pointed at a huge file by mistake.
inline constexpr size_t kMaxFileBytes = 64u << 20;

// Reads a whole regular file (a config file, a proc or sys file); the error
// names the path and the errno text. Anything else is refused at once with a
// clear error instead of being read: a FIFO (whose open would wait for a
// writer forever), a device such as /dev/zero (which never ends), a
// directory; and so is a file longer than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes = kMaxFileBytes);

}  // namespace diskidle
