// The server's OpenSSL context, built from the web config's tls_server_config,
// and rebuilt when the certificate, key or client CA files change on disk (a
// rotated Kubernetes Secret, cert-manager), without a restart. A rebuild that
// fails (say the key was replaced before the certificate) keeps serving with
// the previous context and is retried when the files change again.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "config/web_config.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace diskidle::http {

// Builds a context the way the server uses it. Client certificates are asked
// for at the handshake but, for the Require* modes, demanded per request by
// the server (every path but /healthz): Kubernetes probes carry no client
// certificate, and must still reach /healthz. A certificate that is given must
// verify (RequireAndVerify, VerifyIfGiven) or is accepted as is (RequireAny,
// Request).
absl::StatusOr<std::shared_ptr<SSL_CTX>> BuildSslContext(const TlsServerConfig& tls);

// True for the modes that need a client certificate on every request but /healthz.
bool RequiresClientCertificate(ClientAuthType type);

class TlsContextSource {
 public:
  // Fails if the initial context cannot be built (a start-up error).
  static absl::StatusOr<std::unique_ptr<TlsContextSource>> Create(TlsServerConfig tls);

  // The context for a new connection. Looks at the files at most once a
  // second; rebuilds when any of them changed.
  std::shared_ptr<SSL_CTX> Current();

  const TlsServerConfig& config() const { return tls_; }

 private:
  struct FileStamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  explicit TlsContextSource(TlsServerConfig tls) : tls_(std::move(tls)) {}
  std::vector<FileStamp> Stamps() const;

  const TlsServerConfig tls_;
  absl::Mutex mu_;
  std::shared_ptr<SSL_CTX> current_ ABSL_GUARDED_BY(mu_);
  std::vector<FileStamp> stamps_ ABSL_GUARDED_BY(mu_);  // of the last build attempt
  std::chrono::steady_clock::time_point next_check_ ABSL_GUARDED_BY(mu_);
};

}  // namespace diskidle::http
