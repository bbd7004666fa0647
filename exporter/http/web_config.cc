#include "http/web_config.h"

#include <crypt.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/log.h"
#include "yaml-cpp/yaml.h"


namespace diskidle::http {
namespace {

constexpr std::array<std::pair<std::string_view, ClientAuthType>, 6> kClientAuthTypes = {{
    {"NoClientCert", ClientAuthType::kNoClientCert},
    {"RequestClientCert", ClientAuthType::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
    // exporter-toolkit keeps this older spelling as an alias.
    {"RequireClientCert", ClientAuthType::kRequireAnyClientCert},
    {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert},
}};

constexpr std::array<std::pair<std::string_view, TlsVersion>, 4> kTlsVersions = {{
    {"TLS10", TlsVersion::kTls10},
    {"TLS11", TlsVersion::kTls11},
    {"TLS12", TlsVersion::kTls12},
    {"TLS13", TlsVersion::kTls13},
}};

// Debian's abseil keeps its own string_view type; the public API uses std's.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class ErrorContext {
 public:
  explicit ErrorContext(std::string_view source) : source_(source) {}

  // The path may hold a user's key: escaped, so the message stays one line.
  absl::Status At(const YAML::Node& node, std::string_view raw_path,
                  std::string_view problem) const {
    const std::string path = absl::CHexEscape(A(raw_path));
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, " line ", mark.line + 1, ": ", path, ": ", A(problem)));
    }
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", A(problem)));
  }

 private:
  std::string source_;
};

std::string Quote(std::string_view s) { return absl::StrCat("\"", absl::CEscape(A(s)), "\""); }

absl::StatusOr<std::string> ScalarString(const ErrorContext& err, const YAML::Node& node,
                                         std::string_view path) {
  if (!node.IsScalar()) return err.At(node, path, "expected a string");
  return node.Scalar();
}

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseEnum(const ErrorContext& err, const YAML::Node& node,
                               std::string_view path,
                               const std::array<std::pair<std::string_view, Enum>, N>& names) {
  absl::StatusOr<std::string> value = ScalarString(err, node, path);
  if (!value.ok()) return value.status();
  std::vector<absl::string_view> known;
  for (const auto& [name, e] : names) {
    if (*value == name) return e;
    known.push_back(A(name));
  }
  return err.At(node, path,
                absl::StrCat("unknown value ", Quote(*value), " (expected one of ",
                             absl::StrJoin(known, ", "), ")"));
}

std::string ResolvePath(std::string_view base_dir, std::string_view path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return std::string(path);
  return absl::StrCat(absl::StripSuffix(A(base_dir), "/"), "/", A(path));
}

bool IsBcryptHash(absl::string_view hash) {
  return absl::StartsWith(hash, "$2a$") || absl::StartsWith(hash, "$2b$") ||
         absl::StartsWith(hash, "$2y$");
}

// libxcrypt returns a string starting with '*' for a setting it rejects.
bool CryptAcceptsHash(const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r("", hash.c_str(), data.get());
  return out != nullptr && out[0] != '*' && std::strlen(out) == hash.size();
}

absl::StatusOr<TlsServerConfig> ParseTls(const ErrorContext& err, const YAML::Node& node,
                                         std::string_view base_dir, bool* present) {
  TlsServerConfig tls;
  *present = false;
  if (node.IsNull()) return tls;
  if (!node.IsMap()) return err.At(node, "tls_server_config", "expected a mapping");
  bool ca_given = false;
  bool auth_given = false;
  for (const auto& item : node) {
    const std::string key = item.first.as<std::string>();
    const std::string path = absl::StrCat("tls_server_config.", key);
    const YAML::Node& value = item.second;
    if (key == "cert_file" || key == "key_file" || key == "client_ca_file") {
      absl::StatusOr<std::string> file = ScalarString(err, value, path);
      if (!file.ok()) return file.status();
      std::string resolved = ResolvePath(base_dir, *file);
      if (key == "cert_file") tls.cert_file = std::move(resolved);
      if (key == "key_file") tls.key_file = std::move(resolved);
      if (key == "client_ca_file") {
        tls.client_ca_file = std::move(resolved);
        ca_given = !tls.client_ca_file.empty();
      }
    } else if (key == "client_auth_type") {
      absl::StatusOr<ClientAuthType> type = ParseEnum(err, value, path, kClientAuthTypes);
      if (!type.ok()) return type.status();
      tls.client_auth_type = *type;
      auth_given = true;
    } else if (key == "min_version" || key == "max_version") {
      absl::StatusOr<TlsVersion> version = ParseEnum(err, value, path, kTlsVersions);
      if (!version.ok()) return version.status();
      (key == "min_version" ? tls.min_version : tls.max_version) = *version;
    } else if (key == "prefer_server_cipher_suites") {
      bool prefer = true;
      if (!value.IsScalar() || !YAML::convert<bool>::decode(value, prefer)) {
        return err.At(value, path, "expected true or false");
      }
      tls.prefer_server_cipher_suites = prefer;
    } else if (key == "cipher_suites" || key == "curve_preferences" ||
               key == "client_allowed_sans" || key == "cert" || key == "key") {
      return err.At(item.first, path,
                    "not supported by diskidle_exporter (remove it; OpenSSL's defaults apply)");
    } else {
      return err.At(item.first, path, "unknown key");
    }
  }
  // Like exporter-toolkit: an empty tls_server_config means plain HTTP.
  if (tls.cert_file.empty() && tls.key_file.empty() && !ca_given && !auth_given) return tls;
  if (tls.cert_file.empty()) return err.At(node, "tls_server_config.cert_file", "missing");
  if (tls.key_file.empty()) return err.At(node, "tls_server_config.key_file", "missing");
  const bool verifies = tls.client_auth_type == ClientAuthType::kVerifyClientCertIfGiven ||
                        tls.client_auth_type == ClientAuthType::kRequireAndVerifyClientCert;
  if (verifies && !ca_given) {
    return err.At(node, "tls_server_config.client_ca_file",
                  "required when client_auth_type verifies client certificates");
  }
  if (ca_given && tls.client_auth_type == ClientAuthType::kNoClientCert) {
    return err.At(node, "tls_server_config.client_ca_file",
                  "set but client_auth_type is NoClientCert (set client_auth_type, e.g. "
                  "RequireAndVerifyClientCert)");
  }
  if (tls.min_version > tls.max_version) {
    return err.At(node, "tls_server_config.min_version", "is greater than max_version");
  }
  *present = true;
  return tls;
}

}  // namespace

absl::StatusOr<WebSecurityConfig> ParseWebSecurityConfig(std::string_view yaml_text,
                                                         std::string_view source,
                                                         std::string_view base_dir) {
  ErrorContext err(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        // yaml-cpp quotes the offending character raw (it may be a newline): escape
        // it so the error stays one line (found by tests/fuzz/web_config_fuzz.cc).
        absl::StrCat(A(source), " line ", e.mark.line + 1, ": invalid YAML: ",
                     absl::CHexEscape(e.msg)));
  }
  WebSecurityConfig config;
  if (root.IsNull()) return config;  // an empty file: plain HTTP, no auth
  if (!root.IsMap()) return err.At(root, "web config", "expected a mapping at the top level");
  try {
    for (const auto& item : root) {
      const std::string key = item.first.as<std::string>();
      const YAML::Node& value = item.second;
      if (key == "tls_server_config") {
        bool present = false;
        absl::StatusOr<TlsServerConfig> tls = ParseTls(err, value, base_dir, &present);
        if (!tls.ok()) return tls.status();
        if (present) config.tls = *std::move(tls);
      } else if (key == "basic_auth_users") {
        if (value.IsNull()) continue;
        if (!value.IsMap()) return err.At(value, key, "expected a mapping of user name to bcrypt hash");
        for (const auto& user : value) {
          const std::string name = user.first.as<std::string>();
          const std::string path = absl::StrCat("basic_auth_users.", name);
          if (name.empty() || absl::StrContains(name, ":")) {
            return err.At(user.first, path, "user names must be non-empty and contain no ':'");
          }
          absl::StatusOr<std::string> hash = ScalarString(err, user.second, path);
          if (!hash.ok()) return hash.status();
          if (!IsBcryptHash(*hash) || !CryptAcceptsHash(*hash)) {
            return err.At(user.second, path,
                          "not a valid bcrypt hash (expected $2y$..., e.g. from "
                          "`htpasswd -nBC 10 USER`)");
          }
          config.basic_auth_users[name] = *hash;
        }
      } else if (key == "http_server_config") {
        if (value.IsNull()) continue;
        if (!value.IsMap()) return err.At(value, key, "expected a mapping");
        for (const auto& setting : value) {
          const std::string name = setting.first.as<std::string>();
          const std::string path = absl::StrCat("http_server_config.", name);
          bool ignored = false;
          if (name == "http2") {
            // civetweb serves HTTP/1.1 only; the setting has nothing to turn off.
            if (!setting.second.IsScalar() || !YAML::convert<bool>::decode(setting.second, ignored)) {
              return err.At(setting.second, path, "expected true or false");
            }
          } else if (name == "headers") {
            return err.At(setting.first, path, "not supported by diskidle_exporter");
          } else {
            return err.At(setting.first, path, "unknown key");
          }
        }
      } else {
        return err.At(item.first, key, "unknown key");
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(A(source), " line ", e.mark.line + 1, ": ", e.msg));
  }
  return config;
}

absl::StatusOr<WebSecurityConfig> LoadWebSecurityConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("web config ", Quote(path), ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const size_t slash = path.rfind('/');
  const std::string base_dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  return ParseWebSecurityConfig(text.str(), path, base_dir);
}

}  // namespace diskidle::http
