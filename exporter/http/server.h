// The HTTP(S) endpoint: one event-loop thread owns every connection and a
// small pool runs the handlers, so that clients that stall (half a request
// line, a body sent a byte a second, a TLS handshake never finished) hold only
// a socket and a few kilobytes, never a thread a fresh scrape needs.
//
//   accept ─► [TLS handshake] ─► read head (limits, deadline) ─► checks:
//     method GET/HEAD (405), no body (413), client certificate (403),
//     basic auth: remembered verdict, or one bcrypt at a time on its own
//     thread (429 when that queue is full) ─► route: inline (/healthz) or a
//     handler thread (503 when busy) ─► write ─► close.
//
// Every response closes its connection. Knows nothing of metrics: the caller
// hands it routes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/request.h"
#include "http/response.h"
#include "config/web_config.h"

namespace diskidle::http {

struct Route {
  std::string path;
  // Served without credentials or client certificate (/healthz: Kubernetes
  // probes carry neither).
  bool open = false;
  // Cheap and never blocking: answered on the event loop, so it never waits
  // behind a slow scrape.
  bool run_inline = false;
  std::function<HttpResponse(const HttpRequest&)> handler;
  // How long the handler and the write may take; 0: ServerOptions'
  // response_timeout. For handlers that take long on purpose (/debug/stacks
  // collects for up to a minute).
  absl::Duration timeout = absl::ZeroDuration();
};

struct ServerOptions {
  std::string host;  // "" = every address
  uint16_t port = 0;
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // name -> bcrypt hash
  std::string realm = "diskidle_exporter";
  std::vector<Route> routes;

  // Limits. A client has head_timeout from connecting to finish its TLS
  // handshake and send its request head.
  absl::Duration head_timeout = absl::Seconds(10);
  absl::Duration response_timeout = absl::Seconds(60);  // handler + write
  RequestLimits request_limits;
  int handler_threads = 2;
  size_t handler_queue = 32;
  size_t auth_queue = 16;  // requests waiting for a bcrypt verification
  size_t max_connections = 512;  // lowered to fit RLIMIT_NOFILE
};

class HttpServer {
 public:
  // Binds (errors name the address and the fix) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(ServerOptions options);
  ~HttpServer();  // stops within a moment; a running handler finishes first
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // What the sockets are bound to, e.g. {"[::]:9436"} (port 0 resolved).
  std::vector<std::string> addresses() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace diskidle::http
