// libFuzzer target: the shared YAML field reader (config/yaml_fields), the
// listen-address parser and the web-config parser built on them never crash
// or hang on any bytes, and every error they return is one line naming its
// source.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/listen_address.h"
#include "config/web_config.h"
#include "config/yaml_fields.h"

namespace {

using diskidle::yaml::Field;
using diskidle::yaml::FieldReader;

void CheckError(const absl::Status& status, std::string_view source) {
  if (status.ok()) return;
  std::string message(status.message());
  if (message.rfind(std::string(source), 0) != 0 || message.find('\n') != std::string::npos) {
    fprintf(stderr, "bad error message: %s\n", message.c_str());
    abort();
  }
}

// Calls every getter on `field`, then walks into maps and lists. `budget`
// bounds the work: aliases let a small document name one node many times.
void Walk(const FieldReader& r, const Field& field, int depth, int& budget) {
  if (--budget < 0 || depth > 16) return;
  CheckError(r.Bool(field).status(), "fuzz");
  CheckError(r.Int(field, -5, 1'000'000).status(), "fuzz");
  CheckError(r.String(field).status(), "fuzz");
  CheckError(r.Text(field).status(), "fuzz");
  CheckError(r.Text(field, /*null_is_empty=*/true).status(), "fuzz");
  CheckError(r.Duration(field, absl::Milliseconds(100), absl::Hours(24)).status(), "fuzz");
  CheckError(r.OneOf<int>(field, {{"one", 1}, {"two", 2}}).status(), "fuzz");
  if (field.value.IsScalar()) {
    // An accepted duration formats to text that parses back to it.
    if (auto d = diskidle::yaml::ParsePromDuration(field.value.Scalar())) {
      auto again = diskidle::yaml::ParsePromDuration(diskidle::yaml::FormatPromDuration(*d));
      if (*d >= absl::ZeroDuration() && *d < absl::Hours(24 * 365 * 1000) &&
          (!again || absl::ToInt64Milliseconds(*again) != absl::ToInt64Milliseconds(*d))) {
        fprintf(stderr, "duration does not round-trip: %s\n", field.value.Scalar().c_str());
        abort();
      }
    }
  }
  auto recurse = [&](const Field& child) {
    Walk(r, child, depth + 1, budget);
    return absl::OkStatus();
  };
  CheckError(r.ForEachKey(field, {{"a", recurse}, {"b", recurse}}, {{"c", "refused"}}), "fuzz");
  CheckError(r.ForEachEntry(field, "a map",
                            [&](const std::string&, const Field& child) { return recurse(child); }),
             "fuzz");
  absl::StatusOr<std::vector<Field>> items = r.Items(field, "expected a list");
  CheckError(items.status(), "fuzz");
  if (items.ok()) {
    for (const Field& item : *items) recurse(item);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  FieldReader reader("fuzz");
  absl::StatusOr<Field> root = reader.Load(text);
  CheckError(root.status(), "fuzz");
  if (root.ok()) {
    int budget = 2000;
    Walk(reader, *root, 0, budget);
  }

  auto web = diskidle::ParseWebSecurityConfig(text, "web.yml", "/etc/diskidle");
  CheckError(web.status(), "web.yml");

  // An accepted listen address prints to text that parses back to it.
  absl::StatusOr<diskidle::ListenAddress> address = diskidle::ParseListenAddress(text);
  if (!address.ok()) {
    CheckError(address.status(), "expected host:port");
  } else {
    absl::StatusOr<diskidle::ListenAddress> again =
        diskidle::ParseListenAddress(address->ToString());
    if (!again.ok() || !(*again == *address)) {
      fprintf(stderr, "listen address does not round-trip: %s\n", address->ToString().c_str());
      abort();
    }
  }
  return 0;
}
