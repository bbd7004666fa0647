#include "config/web_config.h"


#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "config/yaml_fields.h"
#include "util/read_file.h"

namespace diskidle {
namespace {

using yaml::Field;
using yaml::FieldReader;

// Debian's abseil has its own string_view type; bridge from std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

const std::vector<std::pair<std::string_view, ClientAuthType>>& ClientAuthTypes() {
  static const auto* const types = new std::vector<std::pair<std::string_view, ClientAuthType>>{
      {"NoClientCert", ClientAuthType::kNoClientCert},
      {"RequestClientCert", ClientAuthType::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
      // exporter-toolkit keeps this older spelling as an alias.
      {"RequireClientCert", ClientAuthType::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert},
  };
  return *types;
}

std::string_view TlsVersionName(TlsVersion version) {
  return version == TlsVersion::kTls12 ? "TLS12" : "TLS13";
}

// The exporter-toolkit keys we do not implement, refused by name.
std::vector<yaml::RefusedKey> RefusedTlsKeys() {
  return {
      {"cert", "inline PEM; put the certificate in a file and set cert_file"},
      {"key", "inline PEM; put the key in a file and set key_file"},
      {"client_ca", "inline PEM; put the CA certificates in a file and set client_ca_file"},
      {"cipher_suites", "remove it; OpenSSL's default cipher suites apply"},
      {"curve_preferences", "remove it; OpenSSL's default groups apply"},
      {"client_allowed_sans",
       "remove it; any client certificate that verifies against client_ca_file is accepted"},
  };
}

std::string ResolvePath(std::string_view base_dir, std::string_view path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return std::string(path);
  return absl::StrCat(absl::StripSuffix(AV(base_dir), "/"), "/", AV(path));
}

// bcrypt's own alphabet (not base64's).
bool IsBcryptChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

// Every verification costs 2^cost rounds: at 15 about two seconds here, at 20
// a minute, at 31 days. The exporter checks unknown users at the dearest
// configured cost too, so one such hash would make every wrong password cost
// that much. htpasswd uses 5 by default; 10 to 12 is the usual choice.
constexpr int kMaxBcryptCost = 14;

// "$2y$10$" + 53 characters: checked by its shape, without running bcrypt
// (which at a high cost would stall start-up; found by the web_config fuzzer).
// Returns a problem, or "".
std::string BcryptHashProblem(absl::string_view hash) {
  constexpr char kExpected[] =
      "not a valid bcrypt hash (expected $2y$..., e.g. from `htpasswd -nBC 10 USER`)";
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' ||
      (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$' || hash[6] != '$' ||
      !absl::ascii_isdigit(hash[4]) || !absl::ascii_isdigit(hash[5])) {
    return kExpected;
  }
  for (char c : hash.substr(7)) {
    if (!IsBcryptChar(c)) return kExpected;
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return kExpected;
  if (cost > kMaxBcryptCost) {
    return absl::StrCat("bcrypt cost ", cost, " is too high: every check of a new password would ",
                        "take seconds to hours; use a cost from 4 to ", kMaxBcryptCost,
                        " (`htpasswd -nBC 10 USER`)");
  }
  return "";
}

absl::StatusOr<TlsVersion> ReadTlsVersion(const FieldReader& r, const Field& f) {
  if (f.value.IsScalar() && (f.value.Scalar() == "TLS10" || f.value.Scalar() == "TLS11")) {
    return r.Error(f, absl::StrCat(f.value.Scalar(),
                                   " is not supported: OpenSSL 3 refuses TLS before 1.2 at its "
                                   "default security level; use TLS12 or TLS13"));
  }
  return r.OneOf<TlsVersion>(f, {{"TLS12", TlsVersion::kTls12}, {"TLS13", TlsVersion::kTls13}});
}

// Reads tls_server_config. Sets `present` unless the section is empty, which
// (as in exporter-toolkit) means plain HTTP.
absl::Status ReadTls(const FieldReader& r, const Field& f, std::string_view base_dir,
                     TlsServerConfig& tls, bool& present) {
  bool auth_given = false;
  int min_version_line = f.line;
  auto file = [&](std::string& out) {
    return [&r, target = &out, base_dir](const Field& g) -> absl::Status {
      absl::StatusOr<std::string> path = r.Text(g, /*null_is_empty=*/true);
      if (!path.ok()) return path.status();
      *target = ResolvePath(base_dir, *path);
      return absl::OkStatus();
    };
  };
  absl::Status status =
      r.ForEachKey(f,
                   {
                       {"cert_file", file(tls.cert_file)},
                       {"key_file", file(tls.key_file)},
                       {"client_ca_file", file(tls.client_ca_file)},
                       {"client_auth_type",
                        [&](const Field& g) -> absl::Status {
                          absl::StatusOr<ClientAuthType> type = r.OneOf(g, ClientAuthTypes());
                          if (!type.ok()) return type.status();
                          tls.client_auth_type = *type;
                          auth_given = true;
                          return absl::OkStatus();
                        }},
                       {"min_version",
                        [&](const Field& g) -> absl::Status {
                          absl::StatusOr<TlsVersion> version = ReadTlsVersion(r, g);
                          if (!version.ok()) return version.status();
                          tls.min_version = *version;
                          min_version_line = g.line;
                          return absl::OkStatus();
                        }},
                       {"max_version",
                        [&](const Field& g) -> absl::Status {
                          absl::StatusOr<TlsVersion> version = ReadTlsVersion(r, g);
                          if (!version.ok()) return version.status();
                          tls.max_version = *version;
                          return absl::OkStatus();
                        }},
                       {"prefer_server_cipher_suites",
                        [&](const Field& g) -> absl::Status {
                          absl::StatusOr<bool> prefer = r.Bool(g);
                          if (!prefer.ok()) return prefer.status();
                          tls.prefer_server_cipher_suites = *prefer;
                          return absl::OkStatus();
                        }},
                   },
                   RefusedTlsKeys());
  if (!status.ok()) return status;

  const bool ca_given = !tls.client_ca_file.empty();
  present = !tls.cert_file.empty() || !tls.key_file.empty() || ca_given || auth_given;
  if (!present) return absl::OkStatus();
  const std::string prefix = f.path + ".";
  if (tls.cert_file.empty()) return r.Error(f.line, prefix + "cert_file", "missing");
  if (tls.key_file.empty()) return r.Error(f.line, prefix + "key_file", "missing");
  const bool verifies = tls.client_auth_type == ClientAuthType::kVerifyClientCertIfGiven ||
                        tls.client_auth_type == ClientAuthType::kRequireAndVerifyClientCert;
  if (verifies && !ca_given) {
    return r.Error(f.line, prefix + "client_ca_file",
                   "required when client_auth_type verifies client certificates");
  }
  if (ca_given && tls.client_auth_type == ClientAuthType::kNoClientCert) {
    return r.Error(f.line, prefix + "client_ca_file",
                   "set but client_auth_type is NoClientCert (set client_auth_type, e.g. "
                   "RequireAndVerifyClientCert)");
  }
  if (tls.min_version > tls.max_version) {
    return r.Error(
        min_version_line, prefix + "min_version",
        absl::StrCat(AV(TlsVersionName(tls.min_version)), " is greater than max_version ",
                     AV(TlsVersionName(tls.max_version))));
  }
  return absl::OkStatus();
}

absl::Status ReadUsers(const FieldReader& r, const Field& f,
                       std::map<std::string, std::string>& users) {
  return r.ForEachEntry(
      f, "a map of user name to bcrypt hash",
      [&](const std::string& name, const Field& g) -> absl::Status {
        if (name.empty() || absl::StrContains(name, ":") || !yaml::IsPrintableText(name)) {
          return r.Error(g.line, g.path, "user names must be non-empty printable text without ':'");
        }
        absl::StatusOr<std::string> hash = r.String(g);
        if (!hash.ok()) return hash.status();
        if (std::string problem = BcryptHashProblem(*hash); !problem.empty()) {
          return r.Error(g, problem);
        }
        users[name] = *hash;
        return absl::OkStatus();
      });
}

absl::Status ReadHttpServerConfig(const FieldReader& r, const Field& f) {
  return r.ForEachKey(f,
                      {
                          // The server speaks HTTP/1.1 only; the setting has nothing to turn off.
                          {"http2", [&](const Field& g) { return r.Bool(g).status(); }},
                      },
                      {{"headers", "remove it; the exporter sets its own response headers"}});
}

}  // namespace

absl::StatusOr<WebSecurityConfig> ParseWebSecurityConfig(std::string_view yaml_text,
                                                         std::string_view source,
                                                         std::string_view base_dir) {
  FieldReader r(source);
  absl::StatusOr<Field> root = r.Load(yaml_text);
  if (!root.ok()) return root.status();
  WebSecurityConfig config;
  TlsServerConfig tls;
  bool tls_present = false;
  absl::Status status = r.ForEachKey(
      *root,
      {
          {"tls_server_config",
           [&](const Field& f) { return ReadTls(r, f, base_dir, tls, tls_present); }},
          {"http_server_config", [&](const Field& f) { return ReadHttpServerConfig(r, f); }},
          {"basic_auth_users",
           [&](const Field& f) { return ReadUsers(r, f, config.basic_auth_users); }},
      },
      {{"rate_limit", "remove it; diskidle_exporter does not rate-limit requests"}});
  if (!status.ok()) return status;
  if (tls_present) config.tls = std::move(tls);
  return config;
}

absl::StatusOr<WebSecurityConfig> ReadWebSecurityConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("web config file: ", text.status().message()));
  }
  const size_t slash = path.rfind('/');
  const std::string base_dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  return ParseWebSecurityConfig(*text, path, base_dir);
}

}  // namespace diskidle
