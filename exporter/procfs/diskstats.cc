#include "procfs/diskstats.h"

#include "model/label_text.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace diskidle {
namespace {

constexpr std::string_view kWhitespace = " \t\r\v\f";

// Fields after major, minor and name, in the order the kernel prints them.
constexpr uint64_t DiskStats::*kCounters[] = {
    &DiskStats::reads_completed, &DiskStats::reads_merged,        &DiskStats::sectors_read,
    &DiskStats::read_time_ms,    &DiskStats::writes_completed,    &DiskStats::writes_merged,
    &DiskStats::sectors_written, &DiskStats::write_time_ms,       &DiskStats::ios_in_progress,
    &DiskStats::io_time_ms,      &DiskStats::weighted_io_time_ms, &DiskStats::discards_completed,
    &DiskStats::discards_merged, &DiskStats::sectors_discarded,   &DiskStats::discard_time_ms,
    &DiskStats::flush_requests,  &DiskStats::flush_time_ms,
};
constexpr int kMaxFields = 3 + sizeof(kCounters) / sizeof(kCounters[0]);  // 20

// A token of a line, quoted and bounded for an error message.
std::string Shown(std::string_view token) {
  constexpr size_t kMax = 32;
  return absl::StrCat(
      "\"", absl::CHexEscape(absl::string_view(token.data(), std::min(token.size(), kMax))),
      token.size() > kMax ? "...\"" : "\"");
}

template <typename T>
bool ParseUnsigned(std::string_view token, T& out) {
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
  return ec == std::errc() && ptr == token.data() + token.size();
}

// Splits on whitespace; stops after `limit` + 1 tokens (enough to tell "too many").
int Tokenize(std::string_view line, std::string_view* tokens, int limit) {
  int n = 0;
  size_t pos = 0;
  while (n < limit) {
    pos = line.find_first_not_of(kWhitespace, pos);
    if (pos == std::string_view::npos) break;
    size_t end = line.find_first_of(kWhitespace, pos);
    if (end == std::string_view::npos) end = line.size();
    tokens[n++] = line.substr(pos, end - pos);
    pos = end;
  }
  return n;
}

}  // namespace

DiskstatsParseResult ParseDiskstats(std::string_view text) {
  DiskstatsParseResult result;
  std::set<std::string, std::less<>> seen;
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;

    // Future kernels may append fields: read the ones we know, ignore the rest.
    constexpr int kLimit = kMaxFields + 1;
    std::string_view tokens[kLimit];
    int n = Tokenize(line, tokens, kLimit);
    if (n == 0) continue;  // blank line
    int fields = n > kMaxFields ? kMaxFields : n;
    if (fields != 14 && fields != 18 && fields != 20) {
      result.errors.push_back(
          absl::StrCat("line ", line_number, ": expected 14, 18 or 20 fields, got ", n));
      continue;
    }
    DiskStats disk;
    disk.field_count = fields;
    if (!ParseUnsigned(tokens[0], disk.major) || !ParseUnsigned(tokens[1], disk.minor)) {
      result.errors.push_back(absl::StrCat("line ", line_number,
                                           ": expected numeric major and minor numbers, got ",
                                           Shown(tokens[0]), " ", Shown(tokens[1])));
      continue;
    }
    // Names become label values (and device names in the bio metrics).
    disk.name = SanitizeLabelValue(tokens[2]);
    bool ok = true;
    for (int i = 3; i < fields; ++i) {
      if (!ParseUnsigned(tokens[i], disk.*kCounters[i - 3])) {
        result.errors.push_back(
            absl::StrCat("line ", line_number, " (", Shown(tokens[2]), "): field ", i + 1,
                         " is not an unsigned 64-bit integer: ", Shown(tokens[i])));
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    if (!seen.insert(disk.name).second) {
      result.errors.push_back(
          absl::StrCat("line ", line_number, ": duplicate device ", Shown(tokens[2])));
      continue;
    }
    result.disks.push_back(std::move(disk));
  }
  return result;
}

}  // namespace diskidle
