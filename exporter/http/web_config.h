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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct CivetCallbacks;
struct mg_connection;

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

// Reads, parses and pre-flights a web config file: the certificate, key and
// client CA are loaded into a scratch TLS context so that a missing file, a
// key that does not match the certificate or a bad PEM is a start-up error
// naming the file rather than a failed handshake later.
absl::StatusOr<WebSecurityConfig> LoadWebSecurityConfig(const std::string& path);

// Configures an OpenSSL SSL_CTX (passed as void* as civetweb does) from the
// config: certificate and key, client verification, protocol versions.
absl::Status ConfigureSslContext(const TlsServerConfig& tls, void* ssl_ctx);

// "9436" -> "9436s", "127.0.0.1:9436" -> "127.0.0.1:9436s": civetweb marks
// TLS ports with an "s" suffix. Comma-separated lists are handled per port.
std::string TlsListeningPorts(std::string_view civetweb_ports);

// Points civetweb's init_ssl callback at `tls` (kept alive by the caller's
// shared_ptr copy held here). civetweb hands init_ssl the CivetServer as user
// data, which prometheus-cpp owns, so the config lives in a process-wide slot:
// one TLS listener per process, which is all the exporter has.
void InstallTlsCallback(CivetCallbacks* callbacks, std::shared_ptr<const TlsServerConfig> tls);

// Verifies basic-auth credentials against bcrypt hashes with the system's
// crypt library (libxcrypt understands $2a$, $2b$ and $2y$). Thread-safe.
class BasicAuthenticator {
 public:
  explicit BasicAuthenticator(std::map<std::string, std::string> users);

  // True if `user` exists and `password` matches its hash. Unknown users cost
  // one bcrypt too, so response time does not reveal which names exist.
  // Successful checks are remembered (keyed by user and a SHA-256 of the
  // password), so a scrape every few seconds does not pay bcrypt each time.
  bool Check(std::string_view user, std::string_view password) const;

  // Checks the request's `Authorization: Basic` header. On failure, answers
  // 401 with `WWW-Authenticate: Basic realm="<realm>"` and returns false; the
  // caller then reports the request as handled.
  bool AuthorizeRequest(mg_connection* conn, std::string_view realm) const;

 private:
  std::map<std::string, std::string> users_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_set<std::string> verified_ ABSL_GUARDED_BY(mu_);
};

// Checks a password against a crypt(3) hash; constant-time comparison of the
// result. Exposed for tests.
bool CryptVerify(std::string_view password, const std::string& hash);

}  // namespace diskidle::http
