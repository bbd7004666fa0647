// The web configuration: TLS and basic authentication for the HTTP endpoint,
// read from a `web-config.yml` in the exporter-toolkit format every Prometheus
// exporter understands (--web.config.file). See docs/security.md.
//
// Supported keys (anything else is an error, so a setting that would weaken or
// change security is never silently ignored):
//   tls_server_config: cert_file, key_file, client_ca_file, client_auth_type,
//                      min_version, max_version (TLS12, TLS13),
//                      prefer_server_cipher_suites
//   http_server_config: http2 (accepted and ignored: the server speaks HTTP/1.1)
//   basic_auth_users: {name: bcrypt hash}
// exporter-toolkit keys we do not implement are refused by name: inline
// cert/key/client_ca, cipher_suites, curve_preferences, client_allowed_sans,
// http_server_config.headers, rate_limit.
//
// This file only parses; loading the certificate and key (the TLS pre-flight)
// belongs to http/.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

// The exporter-toolkit names, which are Go's tls.ClientAuthType names.
enum class ClientAuthType {
  kNoClientCert,
  kRequestClientCert,           // ask for a certificate, accept any or none
  kRequireAnyClientCert,        // require a certificate, do not verify it
  kVerifyClientCertIfGiven,     // none is fine; a given one must verify
  kRequireAndVerifyClientCert,  // mTLS: require one that verifies against client_ca_file
};

// TLS10 and TLS11 are refused when parsing: OpenSSL 3 (Debian 12) refuses
// them at its default security level, so they would be accepted and then
// silently not offered.
enum class TlsVersion { kTls12, kTls13 };

struct TlsServerConfig {
  // Paths are resolved against the web config file's directory, as
  // exporter-toolkit does.
  std::string cert_file;  // PEM certificate (chain), leaf first
  std::string key_file;   // PEM private key
  std::string client_ca_file;
  ClientAuthType client_auth_type = ClientAuthType::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  bool prefer_server_cipher_suites = true;
  bool operator==(const TlsServerConfig&) const = default;
};

struct WebSecurityConfig {
  // Unset: plain HTTP (also for an empty tls_server_config, as in exporter-toolkit).
  std::optional<TlsServerConfig> tls;
  // User name -> bcrypt hash ($2a$/$2b$/$2y$). Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
  bool operator==(const WebSecurityConfig&) const = default;
};

// Parses web-config YAML. `source` names the file in messages and `base_dir`
// resolves relative paths. Errors are one line naming the key, e.g.
// `web.yml line 3: tls_server_config.client_auth_type: expected one of
// NoClientCert, ..., got "Sometimes"`. No file is opened.
absl::StatusOr<WebSecurityConfig> ParseWebSecurityConfig(std::string_view yaml_text,
                                                         std::string_view source,
                                                         std::string_view base_dir);

// Reads and parses a web config file; relative paths in it are resolved
// against its directory. Certificates are not opened (see http/ for that).
absl::StatusOr<WebSecurityConfig> ReadWebSecurityConfigFile(const std::string& path);

}  // namespace diskidle
