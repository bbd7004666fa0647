#include "config/config.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/read_file.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace diskidle {
namespace {

// Limits that keep a typo from turning into an absurd map size or memory use.
constexpr int64_t kMaxProcesses = 1'000'000;
constexpr int64_t kMaxComms = 100'000;
constexpr int64_t kMaxMapEntries = 1 << 24;
constexpr uint64_t kMaxBucketBound = uint64_t{1} << 32;  // a bio's size is a u32
// Regexes are compiled by libstdc++'s recursive compiler; bound their size so
// a config cannot exhaust the stack.
constexpr size_t kMaxRegexLength = 1024;
constexpr int kMaxRegexNesting = 32;

// Debian's abseil has its own string_view type; bridge from std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Text of a scalar for an error message: quoted, escaped, bounded.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string shown = absl::CHexEscape(AV(text.substr(0, kMax)));
  return absl::StrCat("\"", shown, text.size() > kMax ? "...\"" : "\"");
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "an undefined value";
  }
}

// Prometheus-style duration: one or more <integer><unit>, units in decreasing
// order (y, w, d, h, m, s, ms), e.g. "500ms", "10s", "1h30m"; "0" is zero.
bool ParsePromDuration(std::string_view text, absl::Duration* out) {
  if (text == "0") {
    *out = absl::ZeroDuration();
    return true;
  }
  struct Unit {
    std::string_view name;
    absl::Duration length;
  };
  static const Unit kUnits[] = {
      {"y", absl::Hours(24 * 365)},  {"w", absl::Hours(24 * 7)}, {"d", absl::Hours(24)},
      {"h", absl::Hours(1)},         {"m", absl::Minutes(1)},    {"s", absl::Seconds(1)},
      {"ms", absl::Milliseconds(1)},
  };
  constexpr int kNumUnits = sizeof(kUnits) / sizeof(kUnits[0]);
  absl::Duration total = absl::ZeroDuration();
  int next_unit = 0;  // units must appear in decreasing order, each at most once
  size_t pos = 0;
  if (text.empty()) return false;
  while (pos < text.size()) {
    size_t digits_end = pos;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      ++digits_end;
    }
    if (digits_end == pos || digits_end - pos > 12) return false;
    int64_t number = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + digits_end, number);
    if (ec != std::errc() || ptr != text.data() + digits_end) return false;
    size_t unit_end = digits_end;
    while (unit_end < text.size() && (text[unit_end] < '0' || text[unit_end] > '9')) ++unit_end;
    std::string_view unit = text.substr(digits_end, unit_end - digits_end);
    int found = -1;
    for (int i = next_unit; i < kNumUnits; ++i) {
      if (kUnits[i].name == unit) {
        found = i;
        break;
      }
    }
    if (found < 0) return false;
    next_unit = found + 1;
    total += kUnits[found].length * number;
    pos = unit_end;
  }
  *out = total;
  return true;
}

std::string FormatPromDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms <= 0) return "0s";
  struct Unit {
    const char* name;
    int64_t ms;
  };
  // Weeks and years are left out on purpose: "336h" reads better than "2w".
  static const Unit kUnits[] = {
      {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
  std::string out;
  for (const Unit& unit : kUnits) {
    if (ms >= unit.ms) {
      absl::StrAppend(&out, ms / unit.ms, unit.name);
      ms %= unit.ms;
    }
  }
  return out;
}

// Maximum depth of unescaped parentheses in a regex.
int RegexNesting(std::string_view re) {
  int depth = 0, max_depth = 0;
  bool escaped = false;
  for (char c : re) {
    if (escaped) {
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == '(') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ')') {
      depth = std::max(0, depth - 1);
    }
  }
  return max_depth;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Strings must be printable UTF-8: they end up in logs, labels and file paths
// (and yaml-cpp's emitter rewrites invalid UTF-8, which would break DumpConfig).
bool IsPrintableText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    int extra;
    uint32_t code_point;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, code_point = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, code_point = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      code_point = (code_point << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[extra] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff) ||
        (code_point >= 0x80 && code_point < 0xa0)) {  // C1 control characters
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// Sees only where documents start; used to count them.
struct DocumentCounter : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark& mark) override { last_start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  YAML::Mark last_start;
};

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view source) : source_(source) {}

  absl::StatusOr<Config> Parse(std::string_view text) {
    YAML::Node root;
    int documents = 0;
    YAML::Mark second_document;
    try {
      // YAML::LoadAll loops forever on some malformed input (yaml-cpp 0.7, e.g. "&a,"),
      // so count documents with a bounded loop, then load the first.
      std::istringstream stream{std::string(text)};
      YAML::Parser parser(stream);
      DocumentCounter counter;
      while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
      second_document = counter.last_start;
      if (documents == 1) root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      int line = e.mark.is_null() ? 1 : e.mark.line + 1;
      // yaml-cpp quotes the offending character raw; keep the message one printable line.
      return absl::InvalidArgumentError(
          absl::StrCat(source_, " line ", line, ": invalid YAML: ", absl::CHexEscape(e.msg)));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, " line 1: invalid YAML: ", absl::CHexEscape(e.what())));
    }
    if (documents > 1) {
      return Fail(second_document.line + 1, "top level",
                  "expected a single YAML document, got more");
    }
    Config config;
    if (documents == 0 || root.IsNull()) return config;
    absl::Status status = ParseMap(
        root, 0, "", "top level",
        {
            {"web",
             [&](const Field& f) {
               return ParseMap(f.value, f.line, f.path, f.path,
                               {
                                   {"listen_address",
                                    [&](const Field& g) {
                                      return ParseListenAddress(g, config.web.listen_address);
                                    }},
                                   {"telemetry_path",
                                    [&](const Field& g) {
                                      return ParseTelemetryPath(g, config.web.telemetry_path);
                                    }},
                               });
             }},
            {"paths",
             [&](const Field& f) {
               return ParseMap(
                   f.value, f.line, f.path, f.path,
                   {
                       {"procfs",
                        [&](const Field& g) { return ParsePath(g, config.paths.procfs); }},
                       {"sysfs", [&](const Field& g) { return ParsePath(g, config.paths.sysfs); }},
                   });
             }},
            {"collectors",
             [&](const Field& f) {
               return ParseMap(
                   f.value, f.line, f.path, f.path,
                   {
                       {"bio", [&](const Field& g) { return ParseBio(g, config.collectors.bio); }},
                       {"diskstats",
                        [&](const Field& g) {
                          return ParseDiskstats(g, config.collectors.diskstats);
                        }},
                   });
             }},
        });
    if (!status.ok()) return status;
    return config;
  }

 private:
  struct Field {
    const YAML::Node& value;
    int line;  // 1-based line of the value (of its key when the value has none)
    std::string path;
  };
  using Handler = std::function<absl::Status(const Field&)>;

  absl::Status Fail(int line, std::string_view path, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, " line ", line, ": ", AV(path), ": ", AV(problem)));
  }
  absl::Status Fail(const YAML::Node& node, int fallback_line, std::string_view path,
                    std::string_view problem) const {
    return Fail(LineOf(node, fallback_line), path, problem);
  }
  static int LineOf(const YAML::Node& node, int fallback_line) {
    YAML::Mark mark = node.Mark();
    if (mark.is_null() || mark.line < 0) return std::max(fallback_line, 1);
    return mark.line + 1;
  }

  // Walks a map whose keys must all be in `handlers`. A null value (a section
  // written with no keys) counts as an empty map.
  absl::Status ParseMap(const YAML::Node& node, int line, const std::string& prefix,
                        std::string_view path_for_errors,
                        const std::vector<std::pair<std::string, Handler>>& handlers) {
    if (node.IsNull()) return absl::OkStatus();
    std::vector<std::string> names;
    for (const auto& [name, handler] : handlers) names.push_back(name);
    if (!node.IsMap()) {
      return Fail(node, line, path_for_errors,
                  absl::StrCat("expected a map with keys ", absl::StrJoin(names, ", "), ", got ",
                               Describe(node)));
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: `it->first` lives in a proxy that dies with the full expression.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      int key_line = LineOf(key, line);
      if (!key.IsScalar()) {
        return Fail(key_line, path_for_errors,
                    absl::StrCat("expected keys ", absl::StrJoin(names, ", "), ", got ",
                                 Describe(key), " as a key"));
      }
      const std::string& name = key.Scalar();
      std::string path = prefix.empty() ? name : absl::StrCat(prefix, ".", name);
      const Handler* handler = nullptr;
      for (const auto& [candidate, h] : handlers) {
        if (candidate == name) handler = &h;
      }
      if (handler == nullptr) {
        std::string shown =
            IsPrintableText(name) && !name.empty() && name.size() <= 60 ? name : Quote(name);
        return Fail(key_line, prefix.empty() ? shown : absl::StrCat(prefix, ".", shown),
                    absl::StrCat("unknown key; expected one of ", absl::StrJoin(names, ", ")));
      }
      if (!seen.insert(name).second) return Fail(key_line, path, "duplicate key");
      int value_line = value.IsNull() ? key_line : LineOf(value, key_line);
      key_lines_[path] = key_line;
      absl::Status status = (*handler)(Field{value, value_line, path});
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status GetString(const Field& f, std::string& out, bool null_is_empty = false) {
    if (f.value.IsNull() && null_is_empty) {
      out.clear();
      return absl::OkStatus();
    }
    if (!f.value.IsScalar()) {
      return Fail(f.line, f.path, absl::StrCat("expected a string, got ", Describe(f.value)));
    }
    if (!IsPrintableText(f.value.Scalar())) {
      return Fail(f.line, f.path,
                  absl::StrCat("expected printable UTF-8 text without control characters, got ",
                               Describe(f.value)));
    }
    out = f.value.Scalar();
    return absl::OkStatus();
  }

  absl::Status GetBool(const Field& f, bool& out) {
    static const std::map<std::string, bool, std::less<>> kBools = {
        {"true", true},   {"True", true},   {"TRUE", true},
        {"false", false}, {"False", false}, {"FALSE", false}};
    if (f.value.IsScalar()) {
      auto it = kBools.find(f.value.Scalar());
      if (it != kBools.end()) {
        out = it->second;
        return absl::OkStatus();
      }
    }
    return Fail(f.line, f.path, absl::StrCat("expected true or false, got ", Describe(f.value)));
  }

  static bool ParseInt(const YAML::Node& node, int64_t& out) {
    if (!node.IsScalar()) return false;
    const std::string& s = node.Scalar();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  }

  absl::Status GetInt(const Field& f, int64_t min, int64_t max, int64_t& out) {
    int64_t v = 0;
    if (!ParseInt(f.value, v) || v < min || v > max) {
      return Fail(
          f.line, f.path,
          absl::StrCat("expected an integer from ", min, " to ", max, ", got ", Describe(f.value)));
    }
    out = v;
    return absl::OkStatus();
  }

  absl::Status GetDuration(const Field& f, absl::Duration min, absl::Duration max,
                           absl::Duration& out) {
    absl::Duration d;
    if (!f.value.IsScalar() || !ParsePromDuration(f.value.Scalar(), &d)) {
      return Fail(
          f.line, f.path,
          absl::StrCat("expected a duration like \"500ms\", \"10s\", \"5m\" or \"1h\", got ",
                       Describe(f.value)));
    }
    if (d < min || d > max) {
      return Fail(f.line, f.path,
                  absl::StrCat("expected a duration from ", FormatPromDuration(min), " to ",
                               FormatPromDuration(max), ", got ", Describe(f.value)));
    }
    out = d;
    return absl::OkStatus();
  }

  absl::Status ParseListenAddress(const Field& f, std::string& out) {
    std::string value;
    if (absl::Status s = GetString(f, value); !s.ok()) return s;
    auto bad = [&](std::string_view why) {
      return Fail(
          f.line, f.path,
          absl::StrCat("expected host:port or :port (e.g. \":9436\", \"127.0.0.1:9436\", "
                       "\"[::1]:9436\"), got ",
                       Quote(value), why.empty() ? "" : " (", AV(why), why.empty() ? "" : ")"));
    };
    size_t colon = value.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    std::string_view host = std::string_view(value).substr(0, colon);
    std::string_view port = std::string_view(value).substr(colon + 1);
    if (!host.empty() && host.front() == '[') {
      if (host.size() < 3 || host.back() != ']') return bad("unbalanced brackets");
    } else if (host.find_first_of(":[]") != std::string_view::npos) {
      return bad("put an IPv6 address in brackets");
    }
    if (host.find_first_of(" \t/") != std::string_view::npos) return bad("bad host");
    uint32_t port_number = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
        port_number > 65535) {
      return bad("port must be a number from 0 to 65535");
    }
    out = value;
    return absl::OkStatus();
  }

  absl::Status ParseTelemetryPath(const Field& f, std::string& out) {
    std::string value;
    if (absl::Status s = GetString(f, value); !s.ok()) return s;
    if (value.empty() || value.front() != '/' || value.find_first_of(" ?#") != std::string::npos) {
      return Fail(f.line, f.path,
                  absl::StrCat("expected a URL path starting with \"/\" (e.g. \"/metrics\"), got ",
                               Quote(value)));
    }
    if (value == "/" || value == "/healthz") {
      return Fail(f.line, f.path,
                  absl::StrCat("expected a path other than \"/\" and \"/healthz\" (the exporter "
                               "serves those itself), got ",
                               Quote(value)));
    }
    out = value;
    return absl::OkStatus();
  }

  absl::Status ParsePath(const Field& f, std::string& out) {
    std::string value;
    if (absl::Status s = GetString(f, value); !s.ok()) return s;
    if (value.empty()) return Fail(f.line, f.path, "expected a directory path, got \"\"");
    out = value;
    return absl::OkStatus();
  }

  absl::Status ParseRegex(const Field& f, std::string& out) {
    std::string value;
    if (absl::Status s = GetString(f, value, /*null_is_empty=*/true); !s.ok()) return s;
    if (value.size() > kMaxRegexLength || RegexNesting(value) > kMaxRegexNesting) {
      return Fail(f.line, f.path,
                  absl::StrCat("expected a regular expression of at most ", kMaxRegexLength,
                               " characters and ", kMaxRegexNesting, " nested groups"));
    }
    try {
      std::regex re(value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Fail(f.line, f.path,
                  absl::StrCat("expected a regular expression (ECMAScript syntax), got ",
                               Quote(value), ": ", e.what()));
    }
    out = value;
    return absl::OkStatus();
  }

  absl::Status ParseBuckets(const Field& f, std::vector<uint64_t>& out) {
    constexpr std::string_view kExpected =
        "expected a list of increasing byte sizes, each 0 (first only) or a power of two up to "
        "4294967296, e.g. [0, 512, 4096]";
    if (!f.value.IsSequence() || f.value.size() == 0) {
      return Fail(f.line, f.path, absl::StrCat(AV(kExpected), ", got ", Describe(f.value)));
    }
    std::vector<uint64_t> buckets;
    for (size_t i = 0; i < f.value.size(); ++i) {
      const YAML::Node& item = f.value[i];
      int line = LineOf(item, f.line);
      std::string item_path = absl::StrCat(f.path, "[", i, "]");
      int64_t v = 0;
      if (!ParseInt(item, v) || v < 0 || static_cast<uint64_t>(v) > kMaxBucketBound) {
        return Fail(line, item_path, absl::StrCat(AV(kExpected), ", got ", Describe(item)));
      }
      uint64_t bound = static_cast<uint64_t>(v);
      if (bound == 0 && i != 0) {
        return Fail(line, item_path, absl::StrCat(AV(kExpected), "; 0 is only allowed first"));
      }
      if (bound != 0 && !IsPowerOfTwo(bound)) {
        return Fail(line, item_path,
                    absl::StrCat(AV(kExpected), "; ", bound,
                                 " is not a power of two (sizes are counted in log2 buckets)"));
      }
      if (!buckets.empty() && bound <= buckets.back()) {
        return Fail(
            line, item_path,
            absl::StrCat(AV(kExpected), "; ", bound, " is not greater than ", buckets.back()));
      }
      buckets.push_back(bound);
    }
    out = std::move(buckets);
    return absl::OkStatus();
  }

  absl::Status ParseBio(const Field& f, BioCollectorConfig& bio) {
    int64_t v = 0;
    return ParseMap(f.value, f.line, f.path, f.path,
                    {
                        {"enabled", [&](const Field& g) { return GetBool(g, bio.enabled); }},
                        {"attach",
                         [&](const Field& g) {
                           std::string value;
                           if (absl::Status s = GetString(g, value); !s.ok()) return s;
                           std::optional<AttachMode> mode = ParseAttachMode(value);
                           if (!mode) {
                             return Fail(g.line, g.path,
                                         absl::StrCat("expected one of auto, tp_btf, raw_tp, got ",
                                                      Quote(value)));
                           }
                           bio.attach = *mode;
                           return absl::OkStatus();
                         }},
                        {"size_buckets_bytes",
                         [&](const Field& g) { return ParseBuckets(g, bio.size_buckets_bytes); }},
                        {"exited_process_ttl",
                         [&](const Field& g) {
                           return GetDuration(g, absl::ZeroDuration(), absl::Hours(24 * 365),
                                              bio.exited_process_ttl);
                         }},
                        {"max_processes",
                         [&](const Field& g) {
                           absl::Status s = GetInt(g, 1, kMaxProcesses, v);
                           if (s.ok()) bio.max_processes = static_cast<int>(v);
                           return s;
                         }},
                        {"max_comms",
                         [&](const Field& g) {
                           absl::Status s = GetInt(g, 1, kMaxComms, v);
                           if (s.ok()) bio.max_comms = static_cast<int>(v);
                           return s;
                         }},
                        {"bio_map_entries",
                         [&](const Field& g) {
                           absl::Status s = GetInt(g, 1, kMaxMapEntries, v);
                           if (s.ok()) bio.bio_map_entries = static_cast<uint32_t>(v);
                           return s;
                         }},
                        {"process_map_entries",
                         [&](const Field& g) {
                           absl::Status s = GetInt(g, 1, kMaxMapEntries, v);
                           if (s.ok()) bio.process_map_entries = static_cast<uint32_t>(v);
                           return s;
                         }},
                    });
  }

  absl::Status ParseDiskstats(const Field& f, DiskstatsCollectorConfig& ds) {
    absl::Status status = ParseMap(
        f.value, f.line, f.path, f.path,
        {
            {"enabled", [&](const Field& g) { return GetBool(g, ds.enabled); }},
            {"device_include", [&](const Field& g) { return ParseRegex(g, ds.device_include); }},
            {"device_exclude", [&](const Field& g) { return ParseRegex(g, ds.device_exclude); }},
            {"utilization_window",
             [&](const Field& g) {
               return GetDuration(g, absl::Milliseconds(200), absl::Hours(1),
                                  ds.utilization_window);
             }},
            {"utilization_sample_interval",
             [&](const Field& g) {
               return GetDuration(g, absl::Milliseconds(100), absl::Minutes(30),
                                  ds.utilization_sample_interval);
             }},
        });
    if (!status.ok()) return status;
    if (ds.utilization_window < 2 * ds.utilization_sample_interval) {
      std::string window_path = f.path + ".utilization_window";
      std::string interval_path = f.path + ".utilization_sample_interval";
      bool window_given = key_lines_.count(window_path) > 0;
      const std::string& path = window_given ? window_path : interval_path;
      return Fail(
          key_lines_[path], path,
          absl::StrCat("expected utilization_window (", FormatPromDuration(ds.utilization_window),
                       ") to be at least twice utilization_sample_interval (",
                       FormatPromDuration(ds.utilization_sample_interval),
                       ") so the window holds two samples"));
    }
    return absl::OkStatus();
  }

  std::string source_;
  std::map<std::string, int> key_lines_;  // key path -> 1-based line
};

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view yaml_text, std::string_view source) {
  return ConfigParser(source).Parse(yaml_text);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("config file: ", text.status().message()));
  }
  return ParseConfig(*text, path);
}

std::string DumpConfig(const Config& config) {
  YAML::Emitter out;
  auto str = [&](const std::string& key, const std::string& value) {
    out << YAML::Key << key << YAML::Value << YAML::SingleQuoted << value;
  };
  auto boolean = [&](const std::string& key, bool value) {
    out << YAML::Key << key << YAML::Value << YAML::TrueFalseBool << YAML::LowerCase << value;
  };
  auto duration = [&](const std::string& key, absl::Duration value) {
    out << YAML::Key << key << YAML::Value << FormatPromDuration(value);
  };
  auto integer = [&](const std::string& key, int64_t value) {
    out << YAML::Key << key << YAML::Value << value;
  };

  out << YAML::BeginMap;
  out << YAML::Key << "web" << YAML::Value << YAML::BeginMap;
  str("listen_address", config.web.listen_address);
  str("telemetry_path", config.web.telemetry_path);
  out << YAML::EndMap;

  out << YAML::Key << "paths" << YAML::Value << YAML::BeginMap;
  str("procfs", config.paths.procfs);
  str("sysfs", config.paths.sysfs);
  out << YAML::EndMap;

  out << YAML::Key << "collectors" << YAML::Value << YAML::BeginMap;
  const BioCollectorConfig& bio = config.collectors.bio;
  out << YAML::Key << "bio" << YAML::Value << YAML::BeginMap;
  boolean("enabled", bio.enabled);
  str("attach", std::string(AttachModeName(bio.attach)));
  out << YAML::Key << "size_buckets_bytes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (uint64_t b : bio.size_buckets_bytes) out << b;
  out << YAML::EndSeq;
  duration("exited_process_ttl", bio.exited_process_ttl);
  integer("max_processes", bio.max_processes);
  integer("max_comms", bio.max_comms);
  integer("bio_map_entries", bio.bio_map_entries);
  integer("process_map_entries", bio.process_map_entries);
  out << YAML::EndMap;

  const DiskstatsCollectorConfig& ds = config.collectors.diskstats;
  out << YAML::Key << "diskstats" << YAML::Value << YAML::BeginMap;
  boolean("enabled", ds.enabled);
  str("device_include", ds.device_include);
  str("device_exclude", ds.device_exclude);
  duration("utilization_window", ds.utilization_window);
  duration("utilization_sample_interval", ds.utilization_sample_interval);
  out << YAML::EndMap;
  out << YAML::EndMap;  // collectors
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace diskidle
