#include "config/config.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/yaml_fields.h"
#include "util/read_file.h"
#include "yaml-cpp/yaml.h"

namespace diskidle {
namespace {

using yaml::Field;
using yaml::FieldReader;
using yaml::Quote;

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

// How values of one type are read from YAML and written back.
template <typename T>
struct Codec {
  std::function<absl::StatusOr<T>(const FieldReader&, const Field&)> read;
  std::function<void(YAML::Emitter&, const T&)> write;
};

Codec<bool> BoolCodec() {
  return {[](const FieldReader& r, const Field& f) { return r.Bool(f); },
          [](YAML::Emitter& out, const bool& v) {
            out << YAML::TrueFalseBool << YAML::LowerCase << v;
          }};
}

template <typename T>
Codec<T> IntCodec(int64_t min, int64_t max) {
  return {[min, max](const FieldReader& r, const Field& f) -> absl::StatusOr<T> {
            absl::StatusOr<int64_t> v = r.Int(f, min, max);
            if (!v.ok()) return v.status();
            return static_cast<T>(*v);
          },
          [](YAML::Emitter& out, const T& v) { out << static_cast<int64_t>(v); }};
}

Codec<absl::Duration> DurationCodec(absl::Duration min, absl::Duration max) {
  return {[min, max](const FieldReader& r, const Field& f) { return r.Duration(f, min, max); },
          [](YAML::Emitter& out, const absl::Duration& v) { out << yaml::FormatPromDuration(v); }};
}

// Printable text, checked further by `check` (which returns a problem, or ""
// when the text is fine). Written single-quoted so any text round-trips.
Codec<std::string> TextCodec(std::function<std::string(const std::string&)> check,
                             bool null_is_empty = false) {
  return {
      [check, null_is_empty](const FieldReader& r, const Field& f) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::string> text = r.Text(f, null_is_empty);
        if (!text.ok()) return text;
        if (std::string problem = check(*text); !problem.empty()) return r.Error(f, problem);
        return text;
      },
      [](YAML::Emitter& out, const std::string& v) { out << YAML::SingleQuoted << v; }};
}

std::string CheckDirectory(const std::string& path) {
  return path.empty() ? "expected a directory path, got \"\"" : "";
}

std::string CheckOptionalAbsolutePath(const std::string& path) {
  if (path.empty() || path.front() == '/') return "";
  return absl::StrCat("expected \"\" (find it in /proc/self/mountinfo) or an absolute path, got ",
                      Quote(path));
}

std::string CheckTelemetryPath(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.find_first_of(" ?#") != std::string::npos) {
    return absl::StrCat("expected a URL path starting with \"/\" (e.g. \"/metrics\"), got ",
                        Quote(path));
  }
  if (path == "/" || path == "/healthz") {
    return absl::StrCat(
        "expected a path other than \"/\" and \"/healthz\" (the exporter serves those itself), "
        "got ",
        Quote(path));
  }
  return "";
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

// libstdc++'s regex compiler keeps the number of a back-reference (\8888...)
// or of a repetition count (a{99999999999}) in an int and overflows on long
// ones (undefined behaviour, found by tests/fuzz/config_fuzz.cc); a large count
// also builds a huge automaton. Device names need neither.
std::string CheckRegexNumbers(std::string_view re) {
  constexpr int kMaxRepeat = 1000;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\') {
      if (i + 1 < re.size() && re[i + 1] >= '1' && re[i + 1] <= '9') {
        return "back-references (\\1, \\2, ...) are not supported";
      }
      ++i;  // the escaped character is literal
      continue;
    }
    // A quantifier at the very start repeats nothing: most often a shell glob
    // ("*sda") written where a regular expression belongs, which libstdc++
    // would report as mismatched parentheses. Only at the start: after "(" a
    // "?" opens a group ("(?:"), and an escaped "\(" or one in brackets is a
    // literal character that may well be repeated.
    if (i == 0 && (re[i] == '*' || re[i] == '+' || re[i] == '?')) {
      return absl::StrCat("'", std::string(1, re[i]), "' at position ", i + 1,
                          " repeats nothing (a regular expression, not a shell glob: \"*sda\" "
                          "is written \".*sda\")");
    }
    if (re[i] != '{') continue;
    int value = 0;
    for (size_t j = i + 1; j < re.size() && re[j] != '}'; ++j) {
      if (re[j] == ',') {
        value = 0;
      } else if (re[j] >= '0' && re[j] <= '9') {
        value = value * 10 + (re[j] - '0');
        if (value > kMaxRepeat) {
          return absl::StrCat("repetition counts ({n,m}) above ", kMaxRepeat,
                              " are not supported");
        }
      } else {
        break;  // not a quantifier: std::regex decides
      }
    }
  }
  return "";
}

std::string CheckRegex(const std::string& re) {
  if (re.size() > kMaxRegexLength || RegexNesting(re) > kMaxRegexNesting) {
    return absl::StrCat("expected a regular expression of at most ", kMaxRegexLength,
                        " characters and ", kMaxRegexNesting, " nested groups");
  }
  if (std::string problem = CheckRegexNumbers(re); !problem.empty()) {
    return absl::StrCat("expected a regular expression (ECMAScript syntax), got ", Quote(re), ": ",
                        problem);
  }
  try {
    std::regex compiled(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::StrCat("expected a regular expression (ECMAScript syntax), got ", Quote(re), ": ",
                        e.what());
  }
  return "";
}

Codec<ListenAddress> ListenAddressCodec() {
  return {[](const FieldReader& r, const Field& f) -> absl::StatusOr<ListenAddress> {
            absl::StatusOr<std::string> text = r.Text(f);
            if (!text.ok()) return text.status();
            absl::StatusOr<ListenAddress> address = ParseListenAddress(*text);
            if (!address.ok()) return r.Error(f, std::string(address.status().message()));
            return address;
          },
          [](YAML::Emitter& out, const ListenAddress& v) {
            out << YAML::SingleQuoted << v.ToString();
          }};
}

// One of `modes`, spelled as `name` spells it.
template <typename Mode>
Codec<Mode> ModeCodec(std::vector<Mode> modes, const char* (*name)(Mode)) {
  return {[modes, name](const FieldReader& r, const Field& f) {
            std::vector<std::pair<std::string_view, Mode>> names;
            for (Mode mode : modes) names.emplace_back(name(mode), mode);
            return r.OneOf(f, names);
          },
          [name](YAML::Emitter& out, const Mode& v) {
            out << YAML::SingleQuoted << std::string(name(v));
          }};
}

Codec<AttachMode> AttachModeCodec() {
  return ModeCodec<AttachMode>({AttachMode::kAuto, AttachMode::kTpBtf, AttachMode::kRawTp},
                               AttachModeName);
}

Codec<SyscallAttachMode> SyscallAttachModeCodec() {
  return ModeCodec<SyscallAttachMode>(
      {SyscallAttachMode::kAuto, SyscallAttachMode::kFentry, SyscallAttachMode::kTracepoint},
      SyscallAttachModeName);
}

// A list of label names, each one of `allowed`, none twice; written in the
// order of `allowed`, which is the order in the exposition too.
Codec<std::vector<std::string>> LabelsCodec(std::vector<std::string> allowed) {
  return {[allowed](const FieldReader& r, const Field& f) -> absl::StatusOr<std::vector<std::string>> {
            const std::string expected =
                absl::StrCat("expected a list of label names out of [", absl::StrJoin(allowed, ", "),
                             "], each at most once");
            absl::StatusOr<std::vector<Field>> items = r.Items(f, expected);
            if (!items.ok()) return items.status();
            std::set<std::string> chosen;
            for (const Field& item : *items) {
              absl::StatusOr<std::string> name = r.String(item);
              if (!name.ok() || std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
                return r.Error(item, absl::StrCat(expected, ", got ", yaml::Describe(item.value)));
              }
              if (!chosen.insert(*name).second) {
                return r.Error(item, absl::StrCat(expected, "; ", Quote(*name), " is listed twice"));
              }
            }
            std::vector<std::string> ordered;
            for (const std::string& name : allowed) {
              if (chosen.count(name)) ordered.push_back(name);
            }
            return ordered;
          },
          [](YAML::Emitter& out, const std::vector<std::string>& v) {
            out << YAML::Flow << YAML::BeginSeq;
            for (const std::string& name : v) out << name;
            out << YAML::EndSeq;
          }};
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

Codec<std::vector<uint64_t>> BucketsCodec() {
  return {[](const FieldReader& r, const Field& f) -> absl::StatusOr<std::vector<uint64_t>> {
            constexpr std::string_view kExpected =
                "expected a list of increasing byte sizes, each 0 (first only) or a power of two "
                "up to 4294967296, e.g. [0, 512, 4096]";
            absl::StatusOr<std::vector<Field>> items = r.Items(f, kExpected);
            if (!items.ok()) return items.status();
            std::vector<uint64_t> buckets;
            for (const Field& item : *items) {
              absl::StatusOr<int64_t> v = r.Int(item, 0, kMaxBucketBound);
              if (!v.ok()) {
                return r.Error(item,
                               absl::StrCat(AV(kExpected), ", got ", yaml::Describe(item.value)));
              }
              uint64_t bound = static_cast<uint64_t>(*v);
              if (bound == 0 && !buckets.empty()) {
                return r.Error(item, absl::StrCat(AV(kExpected), "; 0 is only allowed first"));
              }
              if (bound != 0 && !IsPowerOfTwo(bound)) {
                return r.Error(item, absl::StrCat(AV(kExpected), "; ", bound,
                                                  " is not a power of two (sizes are counted in "
                                                  "log2 buckets)"));
              }
              if (!buckets.empty() && bound <= buckets.back()) {
                return r.Error(item, absl::StrCat(AV(kExpected), "; ", bound,
                                                  " is not greater than ", buckets.back()));
              }
              buckets.push_back(bound);
            }
            return buckets;
          },
          [](YAML::Emitter& out, const std::vector<uint64_t>& v) {
            out << YAML::Flow << YAML::BeginSeq;
            for (uint64_t bound : v) out << bound;
            out << YAML::EndSeq;
          }};
}

// One key of the schema: its path, whether a reload applies it, and how to
// read, write, compare and copy its member of Config.
struct Key {
  std::string path;
  bool restart_only;
  std::function<absl::Status(const FieldReader&, const Field&, Config&)> read;
  std::function<void(YAML::Emitter&, const Config&)> write;
  std::function<bool(const Config&, const Config&)> same;
  std::function<void(const Config& from, Config& to)> copy;
};

enum class Reload { kApplies, kRestartOnly };

// `member` is a generic lambda returning the member of a (const) Config.
template <typename T, typename Member>
Key MakeKey(std::string path, Reload reload, Member member, Codec<T> codec) {
  return Key{
      std::move(path),
      reload == Reload::kRestartOnly,
      [member, read = codec.read](const FieldReader& r, const Field& f,
                                  Config& config) -> absl::Status {
        absl::StatusOr<T> value = read(r, f);
        if (!value.ok()) return value.status();
        member(config) = *std::move(value);
        return absl::OkStatus();
      },
      [member, write = codec.write](YAML::Emitter& out, const Config& config) {
        write(out, member(config));
      },
      [member](const Config& a, const Config& b) { return member(a) == member(b); },
      [member](const Config& from, Config& to) { member(to) = member(from); },
  };
}

// The key path is the member's path in Config, spelled once.
#define DISKIDLE_CONFIG_KEY(member_path, reload, codec) \
  MakeKey(                                              \
      #member_path, reload, [](auto& c) -> auto& { return c.member_path; }, codec)

// The schema: every key, in the order of the dump and of config/diskidle.yaml.
// Defaults are not here: they are the struct initialisers in config.h.
const std::vector<Key>& Keys() {
  static const std::vector<Key>* const keys = new std::vector<Key>{
      DISKIDLE_CONFIG_KEY(web.listen_address, Reload::kRestartOnly, ListenAddressCodec()),
      DISKIDLE_CONFIG_KEY(web.telemetry_path, Reload::kRestartOnly, TextCodec(CheckTelemetryPath)),
      DISKIDLE_CONFIG_KEY(paths.procfs, Reload::kRestartOnly, TextCodec(CheckDirectory)),
      DISKIDLE_CONFIG_KEY(paths.sysfs, Reload::kRestartOnly, TextCodec(CheckDirectory)),
      DISKIDLE_CONFIG_KEY(collectors.bio.enabled, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.attach, Reload::kRestartOnly, AttachModeCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.writeback_attribution, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.journal_attribution, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.size_buckets_bytes, Reload::kRestartOnly, BucketsCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.labels, Reload::kRestartOnly,
                          LabelsCodec({"device", "namespace", "pod", "container", "comm", "thread",
                                       "syscall", "op"})),
      DISKIDLE_CONFIG_KEY(collectors.bio.max_processes, Reload::kApplies,
                          IntCodec<int>(0, kMaxProcesses)),
      DISKIDLE_CONFIG_KEY(collectors.bio.process_labels, Reload::kRestartOnly,
                          LabelsCodec({"device", "namespace", "pod", "container", "pid", "comm",
                                       "thread", "syscall", "op"})),
      DISKIDLE_CONFIG_KEY(collectors.bio.process_histogram, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.bio.exited_process_ttl, Reload::kApplies,
                          DurationCodec(absl::ZeroDuration(), absl::Hours(24 * 365))),
      DISKIDLE_CONFIG_KEY(collectors.bio.max_comms, Reload::kApplies, IntCodec<int>(1, kMaxComms)),
      DISKIDLE_CONFIG_KEY(collectors.bio.max_threads, Reload::kApplies,
                          IntCodec<int>(1, kMaxComms)),
      DISKIDLE_CONFIG_KEY(collectors.bio.bio_map_entries, Reload::kRestartOnly,
                          IntCodec<uint32_t>(1, kMaxMapEntries)),
      DISKIDLE_CONFIG_KEY(collectors.bio.process_map_entries, Reload::kRestartOnly,
                          IntCodec<uint32_t>(1, kMaxMapEntries)),
      DISKIDLE_CONFIG_KEY(collectors.bio.dirtier_map_entries, Reload::kRestartOnly,
                          IntCodec<uint32_t>(1, kMaxMapEntries)),
      DISKIDLE_CONFIG_KEY(collectors.diskstats.enabled, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.diskstats.device_include, Reload::kApplies,
                          TextCodec(CheckRegex, /*null_is_empty=*/true)),
      DISKIDLE_CONFIG_KEY(collectors.diskstats.device_exclude, Reload::kApplies,
                          TextCodec(CheckRegex, /*null_is_empty=*/true)),
      DISKIDLE_CONFIG_KEY(collectors.diskstats.utilization_window, Reload::kApplies,
                          DurationCodec(absl::Milliseconds(200), absl::Hours(1))),
      DISKIDLE_CONFIG_KEY(collectors.diskstats.utilization_sample_interval, Reload::kApplies,
                          DurationCodec(absl::Milliseconds(100), absl::Minutes(30))),
      DISKIDLE_CONFIG_KEY(collectors.syscalls.enabled, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.syscalls.attach, Reload::kRestartOnly,
                          SyscallAttachModeCodec()),
      DISKIDLE_CONFIG_KEY(collectors.syscalls.max_processes, Reload::kApplies,
                          IntCodec<int>(1, kMaxProcesses)),
      DISKIDLE_CONFIG_KEY(collectors.syscalls.exited_process_ttl, Reload::kApplies,
                          DurationCodec(absl::ZeroDuration(), absl::Hours(24 * 365))),
      DISKIDLE_CONFIG_KEY(collectors.syscalls.map_entries, Reload::kRestartOnly,
                          IntCodec<uint32_t>(1, kMaxMapEntries)),
      DISKIDLE_CONFIG_KEY(collectors.disk_latency.enabled, Reload::kRestartOnly, BoolCodec()),
      DISKIDLE_CONFIG_KEY(collectors.disk_latency.attach, Reload::kRestartOnly, AttachModeCodec()),
      DISKIDLE_CONFIG_KEY(kubernetes.cgroup2_mount, Reload::kRestartOnly,
                          TextCodec(CheckOptionalAbsolutePath, /*null_is_empty=*/true)),
      DISKIDLE_CONFIG_KEY(kubernetes.containerd_state_dir, Reload::kRestartOnly,
                          TextCodec(CheckDirectory)),
      DISKIDLE_CONFIG_KEY(kubernetes.crio_state_dir, Reload::kRestartOnly,
                          TextCodec(CheckDirectory)),
      DISKIDLE_CONFIG_KEY(kubernetes.cgroup_cache_entries, Reload::kRestartOnly,
                          IntCodec<uint32_t>(1, kMaxMapEntries)),
      DISKIDLE_CONFIG_KEY(debug.stacks.enabled, Reload::kRestartOnly, BoolCodec()),
  };
  return *keys;
}

#undef DISKIDLE_CONFIG_KEY

// The distinct next path segments below `prefix` ("" or "collectors."), in
// schema order, each with the key when the segment is a leaf.
std::vector<std::pair<std::string, const Key*>> Children(std::string_view prefix) {
  std::vector<std::pair<std::string, const Key*>> children;
  for (const Key& key : Keys()) {
    if (!absl::StartsWith(key.path, AV(prefix))) continue;
    std::string_view rest = std::string_view(key.path).substr(prefix.size());
    std::string segment(rest.substr(0, rest.find('.')));
    if (!children.empty() && children.back().first == segment) continue;
    children.emplace_back(segment, segment.size() == rest.size() ? &key : nullptr);
  }
  return children;
}

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view source) : reader_(source) {}

  absl::StatusOr<Config> Parse(std::string_view text) {
    absl::StatusOr<Field> root = reader_.Load(text);
    if (!root.ok()) return root.status();
    Config config;
    if (absl::Status s = ReadSection(*root, "", config); !s.ok()) return s;
    if (absl::Status s = CheckDiskstats(config.collectors.diskstats); !s.ok()) return s;
    return config;
  }

 private:
  absl::Status ReadSection(const Field& field, const std::string& prefix, Config& config) {
    std::vector<yaml::KnownKey> known;
    for (const auto& child : Children(prefix)) {
      // Named copies: clang 14 cannot capture structured bindings.
      const std::string& segment = child.first;
      const Key* key = child.second;
      if (key != nullptr) {
        known.push_back({segment, [this, key, &config](const Field& f) {
                           lines_[key->path] = f.line;
                           return key->read(reader_, f, config);
                         }});
      } else {
        std::string child_prefix = absl::StrCat(prefix, segment, ".");
        known.push_back({segment, [this, child_prefix, &config](const Field& f) {
                           return ReadSection(f, child_prefix, config);
                         }});
      }
    }
    return reader_.ForEachKey(field, known);
  }

  // The one rule between two keys: the window must hold two samples. The
  // error names whichever of the two the file sets (the window if both).
  absl::Status CheckDiskstats(const DiskstatsCollectorConfig& ds) {
    if (ds.utilization_window >= 2 * ds.utilization_sample_interval) return absl::OkStatus();
    const std::string window = "collectors.diskstats.utilization_window";
    const std::string interval = "collectors.diskstats.utilization_sample_interval";
    const std::string& path = lines_.count(window) > 0 ? window : interval;
    return reader_.Error(lines_.count(path) > 0 ? lines_[path] : 1, path,
                         absl::StrCat("expected utilization_window (",
                                      yaml::FormatPromDuration(ds.utilization_window),
                                      ") to be at least twice utilization_sample_interval (",
                                      yaml::FormatPromDuration(ds.utilization_sample_interval),
                                      ") so the window holds two samples"));
  }

  FieldReader reader_;
  std::map<std::string, int> lines_;  // key path -> 1-based line, for keys the file sets
};

void WriteSection(YAML::Emitter& out, const std::string& prefix, const Config& config) {
  out << YAML::BeginMap;
  for (const auto& [segment, key] : Children(prefix)) {
    out << YAML::Key << segment << YAML::Value;
    if (key != nullptr) {
      key->write(out, config);
    } else {
      WriteSection(out, absl::StrCat(prefix, segment, "."), config);
    }
  }
  out << YAML::EndMap;
}

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
  WriteSection(out, "", config);
  return std::string(out.c_str()) + "\n";
}

ReloadPlan PlanReload(const Config& running, const Config& next) {
  ReloadPlan plan{next, {}};
  for (const Key& key : Keys()) {
    if (key.restart_only && !key.same(running, next)) {
      key.copy(running, plan.config);
      plan.needs_restart.push_back(key.path);
    }
  }
  return plan;
}

std::vector<std::string> ConfigKeyPaths() {
  std::vector<std::string> paths;
  for (const Key& key : Keys()) paths.push_back(key.path);
  return paths;
}

std::vector<std::string> RestartOnlyKeyPaths() {
  std::vector<std::string> paths;
  for (const Key& key : Keys()) {
    if (key.restart_only) paths.push_back(key.path);
  }
  return paths;
}

std::string TelemetryPathProblem(const std::string& path) { return CheckTelemetryPath(path); }

namespace {
bool AnyLabel(const BioCollectorConfig& bio, std::initializer_list<std::string_view> names) {
  for (const auto* list : {&bio.labels, &bio.process_labels}) {
    for (const std::string& label : *list) {
      if (std::find(names.begin(), names.end(), label) != names.end()) return true;
    }
  }
  return false;
}
}  // namespace

bool WantsThreadLabel(const BioCollectorConfig& bio) { return AnyLabel(bio, {"thread"}); }

bool WantsPodLabels(const BioCollectorConfig& bio) {
  return AnyLabel(bio, {"namespace", "pod", "container"});
}

}  // namespace diskidle
