#include "http/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/log.h"

namespace diskidle::http {
namespace {

std::string Quote(const std::string& s) { return absl::StrCat("\"", absl::CEscape(s), "\""); }

int OpenSslVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// Drains OpenSSL's error queue into one line. The commonest mistake, a file
// that is not PEM at all (DER, an empty file, the wrong file), gets words.
std::string OpenSslErrors() {
  const unsigned long first = ERR_peek_error();
  if (ERR_GET_LIB(first) == ERR_LIB_PEM && ERR_GET_REASON(first) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return "no PEM block of the kind expected here (cert_file and client_ca_file: "
           "-----BEGIN CERTIFICATE-----; key_file: -----BEGIN ... PRIVATE KEY-----)";
  }
  std::vector<std::string> errors;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    errors.emplace_back(buf);
  }
  if (errors.empty()) return "unknown OpenSSL error";
  return absl::StrJoin(errors, "; ");
}

int AcceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

bool RequiresClientCertificate(ClientAuthType type) {
  return type == ClientAuthType::kRequireAnyClientCert ||
         type == ClientAuthType::kRequireAndVerifyClientCert;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> BuildSslContext(const TlsServerConfig& tls) {
  // OpenSSL's own message for a missing file is three library errors long.
  for (auto [key, path] : {std::pair<const char*, const std::string*>{"cert_file", &tls.cert_file},
                           {"key_file", &tls.key_file},
                           {"client_ca_file", &tls.client_ca_file}}) {
    if (!path->empty() && access(path->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("tls_server_config.", key, " ", Quote(*path),
                                                     ": ", strerror(errno)));
    }
    struct stat st {};
    if (!path->empty() && stat(path->c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("tls_server_config.", key, " ", Quote(*path),
                                                     ": not a regular file; give a PEM file"));
    }
  }
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> owner(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  SSL_CTX* ctx = owner.get();
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("SSL_CTX_new: ", OpenSslErrors()));
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("tls_server_config.cert_file ",
                                                   Quote(tls.cert_file), ": ", OpenSslErrors()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("tls_server_config.key_file ",
                                                     Quote(tls.key_file),
                                                     " does not match cert_file ",
                                                     Quote(tls.cert_file)));
    }
    return absl::InvalidArgumentError(absl::StrCat("tls_server_config.key_file ",
                                                   Quote(tls.key_file), ": ", OpenSslErrors()));
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
  // Renegotiation would let a client make the server redo handshakes on one
  // connection; nothing here needs it.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("tls_server_config.client_ca_file ",
                                                     Quote(tls.client_ca_file), ": ",
                                                     OpenSslErrors()));
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
    case ClientAuthType::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyCertificate);
      break;
    case ClientAuthType::kVerifyClientCertIfGiven:
    case ClientAuthType::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
  }
  // Session resumption with client verification needs a session id context.
  static constexpr unsigned char kSessionContext[] = "diskidle_exporter";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  return owner;
}

std::vector<TlsContextSource::FileStamp> TlsContextSource::Stamps() const {
  std::vector<FileStamp> stamps;
  for (const std::string* path : {&tls_.cert_file, &tls_.key_file, &tls_.client_ca_file}) {
    FileStamp stamp;
    struct stat st;
    // stat() follows symlinks: a Secret volume swaps its ..data link, which
    // changes the inode seen here.
    if (!path->empty() && stat(path->c_str(), &st) == 0) {
      stamp = FileStamp{st.st_dev, st.st_ino, st.st_size,
                        int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
    }
    stamps.push_back(stamp);
  }
  return stamps;
}

absl::StatusOr<std::unique_ptr<TlsContextSource>> TlsContextSource::Create(TlsServerConfig tls) {
  auto source = std::unique_ptr<TlsContextSource>(new TlsContextSource(std::move(tls)));
  std::vector<FileStamp> stamps = source->Stamps();
  auto ctx = BuildSslContext(source->tls_);
  if (!ctx.ok()) return ctx.status();
  absl::MutexLock lock(&source->mu_);
  source->current_ = *std::move(ctx);
  source->stamps_ = std::move(stamps);
  source->next_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return source;
}

std::shared_ptr<SSL_CTX> TlsContextSource::Current() {
  absl::MutexLock lock(&mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return current_;
  next_check_ = now + std::chrono::seconds(1);
  std::vector<FileStamp> stamps = Stamps();
  if (stamps == stamps_) return current_;
  // Stamped before reading, so a write racing the build is seen next time.
  stamps_ = std::move(stamps);
  auto rebuilt = BuildSslContext(tls_);
  if (!rebuilt.ok()) {
    LogError(absl::StrCat("TLS files changed but cannot be loaded, keeping the previous "
                          "certificate: ", rebuilt.status().message()));
    return current_;
  }
  current_ = *std::move(rebuilt);
  LogInfo("TLS certificate, key or client CA changed on disk: reloaded");
  return current_;
}

}  // namespace diskidle::http
