// TLS and basic authentication for the HTTP endpoint, configured by a
// `web-config.yml` in the exporter-toolkit format every Prometheus exporter
// understands (--web_config_file). See docs/security.md.
//
// Supported keys (anything else is a start-up error, so a setting that would
// weaken or change security is never silently ignored):
//   tls_server_config: cert_file, key_file, client_ca_file, client_auth_type,
//                      min_version, max_version, prefer_server_cipher_suites
//   http_server_config: http2 (accepted and ignored: civetweb speaks HTTP/1.1)
//   basic_auth_users: {name: bcrypt hash}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace diskidle::http {

// The exporter-toolkit names, which are Go's tls.ClientAuthType names.
enum class ClientAuthType {
  kNoClientCert,
  kRequestClientCert,           // ask for a certificate, accept any or none
  kRequireAnyClientCert,        // require a certificate, do not verify it
  kVerifyClientCertIfGiven,     // none is fine; a given one must verify
  kRequireAndVerifyClientCert,  // mTLS: require one that verifies against client_ca_file
};

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

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
};

struct WebSecurityConfig {
  std::optional<TlsServerConfig> tls;
  // User name -> bcrypt hash ($2a$/$2b$/$2y$). Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
};

// Parses web-config YAML. `source` names the file in messages and
// `base_dir` resolves relative paths. Errors are one line naming the key,
// e.g. `web.yml line 3: tls_server_config.client_auth_type: unknown value
// "Sometimes" (expected one of NoClientCert, ...)`. Files are not opened.
absl::StatusOr<WebSecurityConfig> ParseWebSecurityConfig(std::string_view yaml_text,
                                                         std::string_view source,
                                                         std::string_view base_dir);

// Reads and parses a web config file (the TLS files are checked when the
// server builds its context: see http/tls_context.h).
absl::StatusOr<WebSecurityConfig> LoadWebSecurityConfig(const std::string& path);

}  // namespace diskidle::http
