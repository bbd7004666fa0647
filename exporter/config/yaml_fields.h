// Reading typed fields out of a YAML document, shared by the exporter config
// (config.cc) and the web config (web_config.cc) so both reject the same
// mistakes the same way: one document only, unknown and duplicate keys, wrong
// types, out-of-range numbers, control characters in text.
//
// Every error is one line: `<source> line N: <key.path>: <problem>`, with user
// text (keys and values) escaped and bounded.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace diskidle::yaml {

// One value in the document and where it sits.
struct Field {
  YAML::Node value;
  int line = 1;      // 1-based line of the value (of its key when the value is null)
  std::string path;  // "collectors.bio.max_comms"; "" for the root (errors say "top level")
};

// A key a map may hold and what to do with its value.
struct KnownKey {
  std::string name;
  std::function<absl::Status(const Field&)> read;
};

// A key another program's format has that we refuse by name rather than
// ignore (ignoring a security setting would quietly weaken it).
struct RefusedKey {
  std::string name;
  std::string why;  // "put the PEM in a file and set cert_file"
};

// Reads fields of documents from one source (a file path, "config", ...).
class FieldReader {
 public:
  explicit FieldReader(std::string_view source) : source_(source) {}

  // Parses `text` as exactly one YAML document (a second document is an
  // error). Empty text or a document of only comments gives a null root.
  absl::StatusOr<Field> Load(std::string_view text) const;

  // `<source> line <line>: <path>: <problem>`. `path` is a Field's path, whose
  // keys are already escaped where needed.
  absl::Status Error(int line, std::string_view path, std::string_view problem) const;
  absl::Status Error(const Field& field, std::string_view problem) const {
    return Error(field.line, field.path, problem);
  }

  // Calls each key's `read` for the keys present in the map `field`, in
  // document order. A key in `refused` is an error "not supported by
  // diskidle_exporter (<why>)"; any other key not in `known` is an error
  // listing the known ones; a repeated key is an error. A null value (a
  // section written with no keys) counts as an empty map.
  absl::Status ForEachKey(const Field& field, const std::vector<KnownKey>& known,
                          const std::vector<RefusedKey>& refused = {}) const;

  // For maps whose keys are the user's (names of users, say): calls `read`
  // with each key, which must be a scalar, and its value. A repeated key is an
  // error; null counts as empty.
  absl::Status ForEachEntry(
      const Field& field, std::string_view expected,
      const std::function<absl::Status(const std::string& key, const Field& value)>& read) const;

  // The items of a non-empty list, with paths "key[0]", ...; anything else is
  // the error "<expected>, got <what it is>".
  absl::StatusOr<std::vector<Field>> Items(const Field& field, std::string_view expected) const;

  // true/True/TRUE/false/False/FALSE (YAML 1.2 core schema; "yes" is refused).
  absl::StatusOr<bool> Bool(const Field& field) const;
  // A decimal integer in [min, max].
  absl::StatusOr<int64_t> Int(const Field& field, int64_t min, int64_t max) const;
  // Any scalar, as written (may hold any byte): for values that are checked
  // further, such as password hashes.
  absl::StatusOr<std::string> String(const Field& field) const;
  // A scalar of printable UTF-8 without control characters: for values that
  // end up in logs, labels, URLs and file paths. Null gives "" when
  // `null_is_empty`.
  absl::StatusOr<std::string> Text(const Field& field, bool null_is_empty = false) const;
  // A Prometheus-style duration in [min, max] (see ParsePromDuration).
  absl::StatusOr<absl::Duration> Duration(const Field& field, absl::Duration min,
                                          absl::Duration max) const;
  // One of `names` (exact spelling); the error lists them.
  template <typename Enum>
  absl::StatusOr<Enum> OneOf(const Field& field,
                             const std::vector<std::pair<std::string_view, Enum>>& names) const {
    absl::StatusOr<std::string> text = Text(field);
    if (text.ok()) {
      for (const auto& [name, value] : names) {
        if (*text == name) return value;
      }
    }
    std::vector<std::string_view> spellings;
    for (const auto& [name, value] : names) spellings.push_back(name);
    return UnknownValue(field, spellings);
  }

 private:
  absl::Status UnknownValue(const Field& field, const std::vector<std::string_view>& names) const;

  std::string source_;
};

// How a value reads in an error message: a quoted, escaped, bounded scalar, or
// "a list", "a map", "nothing (null)".
std::string Describe(const YAML::Node& node);

// User text for an error message: quoted, C-escaped (so it stays one line),
// cut after 60 bytes.
std::string Quote(std::string_view text);

// True for printable UTF-8 without C0/C1 control characters or DEL.
bool IsPrintableText(std::string_view text);

// Prometheus-style duration: one or more <integer><unit>, units in decreasing
// order (y, w, d, h, m, s, ms), e.g. "500ms", "10s", "1h30m"; "0" is zero.
std::optional<absl::Duration> ParsePromDuration(std::string_view text);

// The shortest such text for a duration, in d/h/m/s/ms ("90s" -> "1m30s").
std::string FormatPromDuration(absl::Duration duration);

}  // namespace diskidle::yaml
