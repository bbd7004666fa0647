#include "config/yaml_fields.h"

#include <algorithm>
#include <charconv>
#include <exception>
#include <set>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"

namespace diskidle::yaml {
namespace {

// Debian's abseil has its own string_view type; bridge from std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int LineOf(const YAML::Node& node, int fallback_line) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return std::max(fallback_line, 1);
  return mark.line + 1;
}

// A key as it appears in a key path: as written when that is plain, else
// quoted and escaped, so an error naming it stays one readable line.
std::string KeyForPath(std::string_view key) {
  bool plain = !key.empty() && key.size() <= 60 && IsPrintableText(key) &&
               key.find_first_of("\"\\") == std::string_view::npos;
  return plain ? std::string(key) : Quote(key);
}

std::string ChildPath(const Field& parent, std::string_view key) {
  return parent.path.empty() ? KeyForPath(key) : absl::StrCat(parent.path, ".", KeyForPath(key));
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

}  // namespace

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
      return node.size() == 0 ? "an empty list" : "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "an undefined value";
  }
}

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
    // Overlong forms, surrogates and C1 control characters are not printable text.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[extra] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff) ||
        (code_point >= 0x80 && code_point < 0xa0)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::optional<absl::Duration> ParsePromDuration(std::string_view text) {
  if (text == "0") return absl::ZeroDuration();
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
  if (text.empty()) return std::nullopt;
  absl::Duration total = absl::ZeroDuration();
  int next_unit = 0;  // units must appear in decreasing order, each at most once
  size_t pos = 0;
  while (pos < text.size()) {
    size_t digits_end = pos;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      ++digits_end;
    }
    // 12 digits bound the product far below absl::Duration's range.
    if (digits_end == pos || digits_end - pos > 12) return std::nullopt;
    int64_t number = 0;
    std::from_chars(text.data() + pos, text.data() + digits_end, number);
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
    if (found < 0) return std::nullopt;
    next_unit = found + 1;
    total += kUnits[found].length * number;
    pos = unit_end;
  }
  return total;
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

absl::StatusOr<Field> FieldReader::Load(std::string_view text) const {
  Field root;  // path "": errors name it "top level"
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
    if (documents == 1) root.value = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for it is "bad file".
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    return absl::InvalidArgumentError(absl::StrCat(
        source_, " line ", line,
        ": invalid YAML: nested too deeply for the parser (a config here needs a handful of "
        "levels)"));
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
    return Error(second_document.line + 1, root.path, "expected a single YAML document, got more");
  }
  if (documents == 0) root.value = YAML::Node(YAML::NodeType::Null);
  root.line = LineOf(root.value, 1);
  return root;
}

absl::Status FieldReader::Error(int line, std::string_view path, std::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, " line ", std::max(line, 1), ": ",
                                                 path.empty() ? "top level" : AV(path), ": ",
                                                 AV(problem)));
}

absl::Status FieldReader::ForEachKey(const Field& field, const std::vector<KnownKey>& known,
                                     const std::vector<RefusedKey>& refused) const {
  if (field.value.IsNull()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const KnownKey& key : known) names.push_back(key.name);
  const std::string listed = absl::StrJoin(names, ", ");
  if (!field.value.IsMap()) {
    return Error(
        field, absl::StrCat("expected a map with keys ", listed, ", got ", Describe(field.value)));
  }
  std::set<std::string> seen;
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    // Copies: `it->first` lives in a proxy that dies with the full expression.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const int key_line = LineOf(key, field.line);
    if (!key.IsScalar()) {
      return Error(key_line, field.path,
                   absl::StrCat("expected keys ", listed, ", got ", Describe(key), " as a key"));
    }
    const std::string& name = key.Scalar();
    const std::string path = ChildPath(field, name);
    auto known_key =
        std::find_if(known.begin(), known.end(), [&](const KnownKey& k) { return k.name == name; });
    if (known_key == known.end()) {
      for (const RefusedKey& r : refused) {
        if (r.name == name) {
          return Error(key_line, path,
                       absl::StrCat("not supported by diskidle_exporter (", r.why, ")"));
        }
      }
      return Error(key_line, path, absl::StrCat("unknown key; expected one of ", listed));
    }
    if (!seen.insert(name).second) return Error(key_line, path, "duplicate key");
    Field child{value, value.IsNull() ? key_line : LineOf(value, key_line), path};
    if (absl::Status status = known_key->read(child); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FieldReader::ForEachEntry(
    const Field& field, std::string_view expected,
    const std::function<absl::Status(const std::string& key, const Field& value)>& read) const {
  if (field.value.IsNull()) return absl::OkStatus();
  if (!field.value.IsMap()) {
    return Error(field, absl::StrCat("expected ", AV(expected), ", got ", Describe(field.value)));
  }
  std::set<std::string> seen;
  for (auto it = field.value.begin(); it != field.value.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const int key_line = LineOf(key, field.line);
    if (!key.IsScalar()) {
      return Error(key_line, field.path,
                   absl::StrCat("expected ", AV(expected), ", got ", Describe(key), " as a key"));
    }
    const std::string path = ChildPath(field, key.Scalar());
    if (!seen.insert(key.Scalar()).second) return Error(key_line, path, "duplicate key");
    Field child{value, value.IsNull() ? key_line : LineOf(value, key_line), path};
    if (absl::Status status = read(key.Scalar(), child); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Field>> FieldReader::Items(const Field& field,
                                                      std::string_view expected) const {
  if (!field.value.IsSequence() || field.value.size() == 0) {
    return Error(field, absl::StrCat(AV(expected), ", got ", Describe(field.value)));
  }
  std::vector<Field> items;
  for (size_t i = 0; i < field.value.size(); ++i) {
    const YAML::Node item = field.value[i];
    items.push_back(Field{item, LineOf(item, field.line), absl::StrCat(field.path, "[", i, "]")});
  }
  return items;
}

absl::StatusOr<bool> FieldReader::Bool(const Field& field) const {
  if (field.value.IsScalar()) {
    const std::string& s = field.value.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return Error(field, absl::StrCat("expected true or false, got ", Describe(field.value)));
}

absl::StatusOr<int64_t> FieldReader::Int(const Field& field, int64_t min, int64_t max) const {
  int64_t v = 0;
  bool parsed = false;
  if (field.value.IsScalar()) {
    const std::string& s = field.value.Scalar();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    parsed = !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
  }
  if (!parsed || v < min || v > max) {
    return Error(field, absl::StrCat("expected an integer from ", min, " to ", max, ", got ",
                                     Describe(field.value)));
  }
  return v;
}

absl::StatusOr<std::string> FieldReader::String(const Field& field) const {
  if (!field.value.IsScalar()) {
    return Error(field, absl::StrCat("expected a string, got ", Describe(field.value)));
  }
  return field.value.Scalar();
}

absl::StatusOr<std::string> FieldReader::Text(const Field& field, bool null_is_empty) const {
  if (null_is_empty && field.value.IsNull()) return std::string();
  absl::StatusOr<std::string> text = String(field);
  if (!text.ok()) return text;
  if (!IsPrintableText(*text)) {
    return Error(field,
                 absl::StrCat("expected printable UTF-8 text without control characters, got ",
                              Describe(field.value)));
  }
  return text;
}

absl::StatusOr<absl::Duration> FieldReader::Duration(const Field& field, absl::Duration min,
                                                     absl::Duration max) const {
  std::optional<absl::Duration> d;
  if (field.value.IsScalar()) d = ParsePromDuration(field.value.Scalar());
  if (!d) {
    return Error(field,
                 absl::StrCat("expected a duration like \"500ms\", \"10s\", \"5m\" or \"1h\", got ",
                              Describe(field.value)));
  }
  if (*d < min || *d > max) {
    return Error(field, absl::StrCat("expected a duration from ", FormatPromDuration(min), " to ",
                                     FormatPromDuration(max), ", got ", Describe(field.value)));
  }
  return *d;
}

absl::Status FieldReader::UnknownValue(const Field& field,
                                       const std::vector<std::string_view>& names) const {
  std::vector<absl::string_view> spellings;
  for (std::string_view name : names) spellings.push_back(AV(name));
  return Error(field, absl::StrCat("expected one of ", absl::StrJoin(spellings, ", "), ", got ",
                                   Describe(field.value)));
}

}  // namespace diskidle::yaml
