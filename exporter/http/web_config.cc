#include "http/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
#include "CivetServer.h"
#include "civetweb.h"
#include "yaml-cpp/yaml.h"

// Defined by the libssl.so/libcrypto.so shims civetweb's dlopen() must find
// (see http/openssl_shim/ssl_shim.c); calling them keeps both linked.
extern "C" int diskidle_openssl_ssl_shim(void);
extern "C" int diskidle_openssl_crypto_shim(void);

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

// One bcrypt hash (cost 10) of a random string nobody knows: unknown users
// are checked against it so that they cost as much as known ones.
constexpr char kDummyHash[] = "$2y$10$qYEgs1dAa1gxWNkruF5RqOxERTw2gZnA1CHDFOlvCBiLKAJ3Dr.Me";

// Bounded so a client cycling through passwords cannot grow memory.
constexpr size_t kMaxRememberedCredentials = 256;

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

int OpenSslVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// Drains OpenSSL's error queue into one line.
std::string OpenSslErrors() {
  std::vector<std::string> errors;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    errors.emplace_back(buf);
  }
  if (errors.empty()) return "unknown OpenSSL error";
  return absl::StrJoin(errors, "; ");
}

absl::Status CheckReadable(std::string_view key, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_server_config.", A(key), " ", Quote(path), ": ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

int AcceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

// The TLS config civetweb's init_ssl callback applies (see InstallTlsCallback).
absl::Mutex g_tls_mu;
std::shared_ptr<const TlsServerConfig>* g_tls ABSL_GUARDED_BY(g_tls_mu) = nullptr;

int InitSsl(void* ssl_ctx, void* /*civet_server*/) {
  std::shared_ptr<const TlsServerConfig> tls;
  {
    absl::MutexLock lock(&g_tls_mu);
    if (g_tls != nullptr) tls = *g_tls;
  }
  if (!tls) return 0;
  absl::Status status = ConfigureSslContext(*tls, ssl_ctx);
  if (!status.ok()) {
    LogError(absl::StrCat("TLS set-up failed: ", status.message()));
    return -1;
  }
  return 1;  // civetweb must not load a certificate of its own
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
  absl::StatusOr<WebSecurityConfig> config = ParseWebSecurityConfig(text.str(), path, base_dir);
  if (!config.ok() || !config->tls) return config;

  const TlsServerConfig& tls = *config->tls;
  for (auto [key, file] : {std::pair<std::string_view, const std::string*>{"cert_file", &tls.cert_file},
                           {"key_file", &tls.key_file},
                           {"client_ca_file", &tls.client_ca_file}}) {
    if (file->empty()) continue;
    if (absl::Status s = CheckReadable(key, *file); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
    }
  }
  SSL_CTX* scratch = SSL_CTX_new(TLS_server_method());
  if (scratch == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslErrors()));
  }
  absl::Status status = ConfigureSslContext(tls, scratch);
  SSL_CTX_free(scratch);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
  return config;
}

absl::Status ConfigureSslContext(const TlsServerConfig& tls, void* ssl_ctx) {
  SSL_CTX* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_server_config.cert_file ", Quote(tls.cert_file), ": ", OpenSslErrors()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(
          "tls_server_config.key_file ", Quote(tls.key_file), " does not match cert_file ",
          Quote(tls.cert_file)));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_server_config.key_file ", Quote(tls.key_file), ": ", OpenSslErrors()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("tls_server_config.key_file ",
                                                   Quote(tls.key_file),
                                                   " does not match cert_file: ", OpenSslErrors()));
  }
  if (SSL_CTX_set_min_proto_version(ctx, OpenSslVersion(tls.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, OpenSslVersion(tls.max_version)) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_server_config.min_version/max_version: ", OpenSslErrors()));
  }
  if (tls.prefer_server_cipher_suites) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tls_server_config.client_ca_file ", Quote(tls.client_ca_file), ": ", OpenSslErrors()));
    }
    // Tell clients which CAs we accept, so they pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  switch (tls.client_auth_type) {
    case ClientAuthType::kNoClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuthType::kRequestClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyCertificate);
      break;
    case ClientAuthType::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         AcceptAnyCertificate);
      break;
    case ClientAuthType::kVerifyClientCertIfGiven:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuthType::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  // Session resumption with client verification needs a session id context.
  static constexpr unsigned char kSessionContext[] = "diskidle_exporter";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  return absl::OkStatus();
}

std::string TlsListeningPorts(std::string_view civetweb_ports) {
  std::vector<std::string> ports;
  for (absl::string_view port : absl::StrSplit(A(civetweb_ports), ',')) {
    port = absl::StripAsciiWhitespace(port);
    if (port.empty()) continue;
    if (absl::EndsWith(port, "s")) {
      ports.emplace_back(port);
    } else {
      ports.push_back(absl::StrCat(port, "s"));
    }
  }
  return absl::StrJoin(ports, ",");
}

void InstallTlsCallback(CivetCallbacks* callbacks, std::shared_ptr<const TlsServerConfig> tls) {
  if (diskidle_openssl_ssl_shim() + diskidle_openssl_crypto_shim() != 2) {
    LogWarning("OpenSSL shims missing: TLS connections may fail");
  }
  absl::MutexLock lock(&g_tls_mu);
  if (g_tls == nullptr) g_tls = new std::shared_ptr<const TlsServerConfig>();
  *g_tls = std::move(tls);
  callbacks->init_ssl = InitSsl;
}

bool CryptVerify(std::string_view password, const std::string& hash) {
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  bool ok = out != nullptr && out[0] != '*' && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users)
    : users_(std::move(users)) {}

bool BasicAuthenticator::Check(std::string_view user, std::string_view password) const {
  const auto it = users_.find(std::string(user));
  if (it == users_.end()) {
    CryptVerify(password, kDummyHash);  // same cost as a known user
    return false;
  }
  const std::string key = absl::StrCat(A(user), absl::string_view("\0", 1), Sha256(password));
  {
    absl::MutexLock lock(&mu_);
    if (verified_.contains(key)) return true;
  }
  if (!CryptVerify(password, it->second)) return false;
  absl::MutexLock lock(&mu_);
  if (verified_.size() >= kMaxRememberedCredentials) verified_.clear();
  verified_.insert(key);
  return true;
}

bool BasicAuthenticator::AuthorizeRequest(mg_connection* conn, std::string_view realm) const {
  const char* header = mg_get_header(conn, "Authorization");
  if (header != nullptr) {
    absl::string_view value = absl::StripAsciiWhitespace(header);
    if (value.size() > 6 && absl::EqualsIgnoreCase(value.substr(0, 6), "Basic ")) {
      std::string decoded;
      if (absl::Base64Unescape(absl::StripAsciiWhitespace(value.substr(6)), &decoded)) {
        const size_t colon = decoded.find(':');
        if (colon != std::string::npos &&
            Check(std::string_view(decoded).substr(0, colon),
                  std::string_view(decoded).substr(colon + 1))) {
          OPENSSL_cleanse(decoded.data(), decoded.size());
          return true;
        }
        OPENSSL_cleanse(decoded.data(), decoded.size());
      }
    }
  }
  static constexpr std::string_view kBody = "401 Unauthorized\n";
  mg_printf(conn,
            "HTTP/1.1 401 Unauthorized\r\n"
            "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "Connection: close\r\n\r\n%s",
            std::string(realm).c_str(), kBody.size(), std::string(kBody).c_str());
  return false;
}

}  // namespace diskidle::http
